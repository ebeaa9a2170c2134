"""Uploaded images: size cap, content type sniffed from the bytes, pixel limit from the header."""

from __future__ import annotations

import io

from fastapi import UploadFile
from PIL import Image

from mmshop.serve.errors import ApiError

# magic bytes -> (media type, file suffix); the file name and the declared type are ignored
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"GIF87a", 0, "image/gif", ".gif"),
    (b"GIF89a", 0, "image/gif", ".gif"),
    (b"WEBP", 8, "image/webp", ".webp"),
)


def sniff_image_type(data: bytes) -> tuple[str, str] | None:
    """``(media type, suffix)`` of JPEG, PNG, GIF or WebP bytes, else None."""
    for magic, offset, media, suffix in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (
            media != "image/webp" or data[:4] == b"RIFF"
        ):
            return media, suffix
    return None


async def read_image_upload(
    upload: UploadFile, max_bytes: int, max_pixels: int
) -> tuple[bytes, str]:
    """The upload's bytes and suffix, or an ApiError (413 too large, 415 not an image)."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "too_large", f"the image is larger than {max_bytes} bytes")
    if not data:
        raise ApiError(400, "bad_request", "the uploaded image is empty")
    kind = sniff_image_type(data)
    if kind is None:
        raise ApiError(
            415,
            "unsupported_media_type",
            "the upload is not a JPEG, PNG, GIF or WebP image (checked from its bytes)",
        )
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ApiError(422, "bad_image", f"the image cannot be read: {exc}") from exc
    if width * height > max_pixels:
        raise ApiError(
            413,
            "image_too_large",
            f"the image has {width}x{height} pixels, more than the limit of {max_pixels}",
        )
    return data, kind[1]
