"""Pictures for the upload tests, made with Pillow."""

from __future__ import annotations

import io

from PIL import Image

SECRET_PLACE = "Camp Hope, north gate"


def photo(width: int = 2000, height: int = 1200, *, fmt: str = "JPEG",
          with_gps: bool = True) -> bytes:
    """A photo carrying EXIF data: a description and a GPS position."""
    picture = Image.new("RGB", (width, height), (40, 90, 160))
    for x in range(0, width, 50):  # some detail, so it is not all one colour
        picture.paste((230, 200, 40), (x, 0, x + 20, height // 3))
    exif = picture.getexif()
    if with_gps:
        exif[0x010E] = SECRET_PLACE  # ImageDescription
        exif[0x010F] = "PhoneMaker"  # Make
        gps = exif.get_ifd(0x8825)
        gps[1] = "N"
        gps[2] = (48.0, 51.0, 24.0)
        gps[3] = "E"
        gps[4] = (2.0, 21.0, 7.0)
    buffer = io.BytesIO()
    picture.save(buffer, fmt, exif=exif.tobytes())
    return buffer.getvalue()


def logo(size: int = 400) -> bytes:
    """A PNG with a transparent background."""
    picture = Image.new("RGBA", (size, size // 2), (0, 0, 0, 0))
    picture.paste((20, 60, 120, 255), (size // 4, size // 8, 3 * size // 4, 3 * size // 8))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def bomb() -> bytes:
    """A small PNG that unpacks into 100 million pixels."""
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
