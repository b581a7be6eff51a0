"""File storage for uploads (thumbnails). Local directory by default, served under `/media`.

A production deployment with several replicas points `MEDIA_DIR` at shared storage or swaps this
class for an object-store implementation with the same two methods.
"""

import asyncio
import uuid
from pathlib import Path

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

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
