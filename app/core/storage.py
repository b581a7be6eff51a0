"""File storage for uploads (thumbnails). Local directory by default, served under `/media`.

A production deployment with several replicas points `MEDIA_DIR` at shared storage or swaps this
class for an object-store implementation with the same two methods.
"""

import asyncio
import uuid
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

MEDIA_URL_PREFIX = "/media"


class LocalStorage:
    def __init__(self, root: str, public_base_url: str) -> None:
        self.root = Path(root)
        self.public_base_url = public_base_url.rstrip("/")

    async def save(self, folder: str, data: bytes, extension: str) -> str:
        """Store `data` under a fresh name and return its public URL."""
        name = f"{uuid.uuid4().hex}.{extension}"
        target = self.root / folder / name
        await asyncio.to_thread(self._write, target, data)
        return f"{self.public_base_url}{MEDIA_URL_PREFIX}/{folder}/{name}"

    async def delete(self, url: str) -> None:
        """Remove a file stored by `save` (e.g. when the request that uploaded it was refused)."""
        relative = url.removeprefix(f"{self.public_base_url}{MEDIA_URL_PREFIX}/")
        target = (self.root / relative).resolve()
        if relative != url and target.is_relative_to(self.root.resolve()):
            await asyncio.to_thread(target.unlink, True)

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


class MediaFiles(StaticFiles):
    """Uploaded files as they are: never content-sniffed (a GIF/HTML polyglot stays an image), no scripts."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response
