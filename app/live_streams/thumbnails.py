"""Thumbnail upload checks: sniff the bytes (never trust the client's content type), cap the size."""

import io

from fastapi import UploadFile
from PIL import Image, UnidentifiedImageError

from app.core.errors import ValidationFailed
from app.core.storage import LocalStorage

ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
MAX_PIXELS = 40_000_000  # refuse decompression bombs long before Pillow's own warning


async def store_thumbnail(upload: UploadFile, storage: LocalStorage, max_bytes: int) -> str:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValidationFailed(f"thumbnail must be at most {_size(max_bytes)}")
    if not data:
        raise ValidationFailed("thumbnail is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationFailed("thumbnail must be a JPEG, PNG, WebP or GIF image") from None
    if image_format not in ALLOWED_FORMATS:
        raise ValidationFailed("thumbnail must be a JPEG, PNG, WebP or GIF image")
    if width * height > MAX_PIXELS:
        raise ValidationFailed("thumbnail dimensions are too large")
    return await storage.save("thumbnails", data, ALLOWED_FORMATS[image_format])


def _size(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MB" if n % mib == 0 else f"{n} bytes"
