"""Uploaded pictures: checked, resized with Pillow, stripped of their metadata, and
kept in the database (see ``petitions.models.images``).

Only the resized copies are kept. They are drawn afresh from the pixels, so nothing of
the upload's EXIF, XMP or ICC data survives: a photo of a camp can carry the GPS
position where it was taken. Every copy is served from this app at a URL naming a
digest of its bytes, so that browsers and caches may keep it for a year.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask_babel import gettext
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Action, Branding, ImageRendition, StoredImage
from petitions.services import audit
from petitions.urls import external_url

if TYPE_CHECKING:
    from petitions.models import User

# The widths of a hero picture: a phone, a laptop, a large screen (and link previews,
# which want at least 1,200 px for a large card).
HERO_WIDTHS = (480, 960, 1600)
LOGO_WIDTHS = (96, 192, 384)
# An upload larger than this is refused before it is read in full.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# More pixels than this (an 8,000 by 5,000 photo) is refused before it is decoded: a
# small file can unpack into gigabytes (a "decompression bomb").
MAX_PIXELS = 40_000_000
MIN_SIDE = 64
MAX_ALT_LENGTH = 300
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
JPEG_QUALITY = 82
MEDIA_TYPES = {"image/jpeg": "jpg", "image/png": "png"}


class ImageError(ValueError):
    """The upload can't be used; the message says why, for the person who sent it."""


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    media_type: str
    content: bytes


@dataclass(frozen=True)
class ImageView:
    """What a template needs to show a stored picture."""

    src: str
    srcset: str
    width: int
    height: int
    preview: str  # a full URL of the middle copy, for link previews (og:image)


def check_alt(alt: str | None) -> str:
    """The alt text, trimmed; refused when empty or too long."""
    text = " ".join((alt or "").split())
    if not text:
        raise ImageError(gettext("Please describe the picture for people who can't see "
                                 "it (alt text)."))
    if len(text) > MAX_ALT_LENGTH:
        raise ImageError(gettext("Please keep the description under %(max)d characters.",
                                 max=MAX_ALT_LENGTH))
    return text


def _decode(data: bytes) -> Image.Image:
    """The upload's first frame, upright, fully decoded; ImageError if it is not a
    picture we take."""
    if not data:
        raise ImageError(gettext("Please choose a picture."))
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(gettext("The picture is larger than %(size)d MB.",
                                 size=MAX_UPLOAD_BYTES // (1024 * 1024)))
    unreadable = ImageError(gettext("This file is not a picture we can read: please send "
                                    "a JPEG, PNG, WebP or GIF image."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
            if picture.format not in ACCEPTED_FORMATS:
                raise unreadable
            width, height = picture.size
            if width * height > MAX_PIXELS:
                raise ImageError(gettext("The picture has too many pixels: at most "
                                         "%(megapixels)d million, please.",
                                         megapixels=MAX_PIXELS // 1_000_000))
            picture.seek(0)
            picture.load()
            picture = ImageOps.exif_transpose(picture)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(gettext("The picture has too many pixels: at most %(megapixels)d "
                                 "million, please.",
                                 megapixels=MAX_PIXELS // 1_000_000)) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise unreadable from exc
    if min(picture.size) < MIN_SIDE:
        raise ImageError(gettext("The picture is too small: at least %(pixels)d pixels "
                                 "on each side, please.", pixels=MIN_SIDE))
    return picture


def _clean(picture: Image.Image, keep_alpha: bool) -> Image.Image:
    """The pixels alone, in RGB (or RGBA), with no metadata attached."""
    has_alpha = picture.mode in ("RGBA", "LA", "PA") or (
        picture.mode == "P" and "transparency" in picture.info)
    if has_alpha:
        picture = picture.convert("RGBA")
        if not keep_alpha:
            background = Image.new("RGBA", picture.size, (255, 255, 255, 255))
            picture = Image.alpha_composite(background, picture)
    mode = "RGBA" if has_alpha and keep_alpha else "RGB"
    pixels = picture.convert(mode)
    # A new image from the raw bytes carries no info dict: no EXIF, XMP, ICC or comment.
    return Image.frombytes(mode, pixels.size, pixels.tobytes())


def renditions(data: bytes, widths: tuple[int, ...], *,
               keep_alpha: bool = False) -> tuple[tuple[int, int], list[Rendition]]:
    """The picture's size (upright) and its copies at each of ``widths`` no wider than
    the picture itself (or one at its own width if it is narrower than them all)."""
    picture = _decode(data)
    size = picture.size
    clean = _clean(picture, keep_alpha)
    wanted = [w for w in widths if w <= size[0]] or [size[0]]
    made = []
    for width in wanted:
        height = max(1, round(size[1] * width / size[0]))
        copy = clean.resize((width, height), Image.Resampling.LANCZOS)
        copy = Image.frombytes(copy.mode, copy.size, copy.tobytes())
        buffer = io.BytesIO()
        if copy.mode == "RGBA":
            copy.save(buffer, "PNG", optimize=True)
            media_type = "image/png"
        else:
            copy.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
            media_type = "image/jpeg"
        made.append(Rendition(width, height, media_type, buffer.getvalue()))
    return size, made


def store(data: bytes, widths: tuple[int, ...], *, keep_alpha: bool = False) -> StoredImage:
    """Check, resize and add a picture to the session (the caller commits)."""
    (width, height), copies = renditions(data, widths, keep_alpha=keep_alpha)
    image = StoredImage(width=width, height=height, renditions=[
        ImageRendition(width=c.width, height=c.height, media_type=c.media_type,
                       digest=hashlib.sha256(c.content).hexdigest(), content=c.content)
        for c in copies])
    db.session.add(image)
    return image


def discard(image: StoredImage | None) -> None:
    """Delete a picture nothing shows any more (the caller commits)."""
    if image is None:
        return
    shown_by_action = select(Action.id).where(Action.image_id == image.id)
    shown_as_logo = select(Branding.id).where(Branding.logo_image_id == image.id)
    if db.session.scalar(shown_by_action.limit(1)) is None and \
            db.session.scalar(shown_as_logo.limit(1)) is None:
        db.session.delete(image)


def rendition_url(rendition: ImageRendition, *, external: bool = False) -> str:
    """The copy's address (against BASE_URL, so a worker can build it too)."""
    url = external_url("public.image", rendition_id=rendition.id,
                       digest=rendition.digest[:32],
                       extension=MEDIA_TYPES[rendition.media_type])
    return url if external else urlsplit(url).path


def view(image: StoredImage | None) -> ImageView | None:
    if image is None or not image.renditions:
        return None
    copies = image.renditions
    middle = copies[min(1, len(copies) - 1)]
    return ImageView(
        src=rendition_url(middle),
        srcset=", ".join(f"{rendition_url(c)} {c.width}w" for c in copies),
        width=middle.width, height=middle.height,
        preview=rendition_url(middle, external=True))


def get_rendition(rendition_id: int, digest: str) -> ImageRendition | None:
    """The copy at this URL, or None (an old digest after a change is a 404)."""
    rendition = db.session.get(ImageRendition, rendition_id)
    if rendition is None or not rendition.digest.startswith(digest) or len(digest) != 32:
        return None
    return rendition


def set_action_image(action: Action, data: bytes, alt: str | None, *, actor: User | None,
                     via: str) -> None:
    """Give ``action`` a new hero picture (or, with no ``data``, a new alt text for the
    one it has), audited, and commit. ImageError says what is wrong."""
    text = check_alt(alt)
    before = {"image": action.image_id, "alt": action.image_alt}
    old = action.image
    if data or old is None:
        action.image = store(data, HERO_WIDTHS)
    action.image_alt = text
    db.session.flush()
    if old is not None and old is not action.image:
        discard(old)
    audit.record("action.image", "action", action.id, actor=actor, via=via, before=before,
                 after={"image": action.image_id, "alt": action.image_alt})
    db.session.commit()


def remove_action_image(action: Action, *, actor: User | None, via: str) -> None:
    old = action.image
    if old is None:
        return
    before = {"image": action.image_id, "alt": action.image_alt}
    action.image = None
    action.image_alt = ""
    db.session.flush()
    discard(old)
    audit.record("action.image", "action", action.id, actor=actor, via=via, before=before,
                 after={"image": None, "alt": ""})
    db.session.commit()


def action_image_json(action: Action) -> dict[str, Any] | None:
    """The hero picture as the API describes it."""
    shown = view(action.image)
    if shown is None:
        return None
    return {"url": shown.preview, "srcset": shown.srcset, "alt": action.image_alt,
            "width": action.image.width if action.image else 0,
            "height": action.image.height if action.image else 0}
