"""The organization's look: name, logo, primary colour, footer text and links.

Kept in one database row and changed only by admins (audited). Every page and email
reads it, so each process keeps a copy for ``CACHE_SECONDS`` and drops it when it
changes it itself (other processes follow within those seconds). With nothing set,
the name comes from ``MAIL_DEFAULT_SENDER``'s display name and the colour is the
stylesheet's own.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
import weakref
from dataclasses import dataclass, field
from email.utils import formataddr, parseaddr
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.engine import Engine

from petitions.extensions import db
from petitions.models import Branding
from petitions.services import audit, images
from petitions.services.images import ImageError, ImageView

if TYPE_CHECKING:
    from petitions.models import User

CACHE_SECONDS = 30
DEFAULT_NAME = "Urgent Actions"
# The stylesheet's own accent (static/css/site.css), used when no colour is set.
DEFAULT_COLOUR = "#b3261e"
DEFAULT_THEME = ("#ffffff", "#8c1d17", "#8c1d17")  # its text, hover and ink colours
MAX_LINKS = 8
_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
# WCAG 2.2: 4.5:1 for text (button labels, links), 3:1 for other things that must be
# seen (a progress bar's fill, a focus ring, a button's edge) against the white page.
TEXT_CONTRAST = 4.5
GRAPHIC_CONTRAST = 3.0
WHITE, BLACK = "#ffffff", "#000000"


class BrandingError(ValueError):
    """Some values can't be used; ``errors`` maps each field's name to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class FooterLink:
    label: str
    url: str


@dataclass(frozen=True)
class Look:
    """The branding as pages, emails and letters use it: every value filled in."""

    name: str
    colour: str           # the buttons' background
    on_colour: str        # the buttons' text: white or black, whichever reads
    hover: str            # the buttons' background under the pointer, text still readable
    ink: str              # the colour as text on the white page (links)
    footer_text: str = ""
    footer_links: tuple[FooterLink, ...] = ()
    logo: ImageView | None = None
    custom: bool = False  # an admin set something
    version: str = field(default="")

    @property
    def stylesheet(self) -> str:
        """The theme as CSS custom properties, for ``/branding.css``."""
        # site.css uses --accent-dark for links (text on white) and button hovers: here
        # it is the ink, and hovers get their own shade, readable under the label.
        return (":root {\n"
                f"  --accent: {self.colour};\n  --accent-dark: {self.ink};\n"
                f"  --accent-ink: {self.ink};\n  --accent-hover: {self.hover};\n"
                f"  --on-accent: {self.on_colour};\n"
                "}\n"
                ".button { color: var(--on-accent); }\n"
                ".button:hover { background: var(--accent-hover); }\n")


# --- colours -----------------------------------------------------------------------------

def normalize_colour(value: str) -> str:
    """``#rrggbb`` in lower case; ValueError if it is not a hex colour."""
    match = _HEX.match(value.strip())
    if not match:
        raise ValueError(value)
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return f"#{digits}"


def _luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4
    red, green, blue = (channel(colour[i:i + 2]) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two ``#rrggbb`` colours, from 1 to 21."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour_on(colour: str) -> str:
    """White or black, whichever contrasts more with ``colour`` (always at least 4.5:1:
    no colour is below that with both)."""
    return WHITE if contrast(colour, WHITE) >= contrast(colour, BLACK) else BLACK


def _mix(colour: str, towards: str, share: float) -> str:
    parts = [round(int(colour[i:i + 2], 16) * (1 - share) + int(towards[i:i + 2], 16) * share)
             for i in (1, 3, 5)]
    return "#" + "".join(f"{p:02x}" for p in parts)


def _shade_keeping(colour: str, text: str, towards: str, minimum: float, share: float
                   ) -> str:
    """``colour`` moved ``share`` of the way ``towards``, then further until ``text`` on
    it has ``minimum`` contrast."""
    shade = _mix(colour, towards, share)
    while contrast(shade, text) < minimum and shade != towards:
        share = min(1.0, share + 0.05)
        shade = _mix(colour, towards, share)
    return shade


def theme(colour: str) -> tuple[str, str, str]:
    """(text on the colour, the colour under the pointer, the colour as text on white)."""
    on_colour = text_colour_on(colour)
    hover = _shade_keeping(colour, on_colour, BLACK if on_colour == WHITE else WHITE,
                           TEXT_CONTRAST, 0.15)
    ink = _shade_keeping(colour, WHITE, BLACK, TEXT_CONTRAST, 0.0)
    return on_colour, hover, ink


def check_colour(value: str) -> str:
    """The colour, normalized, or "" for the default; BrandingError when it is not a
    colour or too pale to see on the white page."""
    if not value.strip():
        return ""
    try:
        colour = normalize_colour(value)
    except ValueError:
        raise BrandingError({"primary_colour": gettext(
            "Please give a colour as #rrggbb, e.g. #1a5fb4.")}) from None
    ratio = contrast(colour, WHITE)
    if ratio < GRAPHIC_CONTRAST:
        raise BrandingError({"primary_colour": gettext(
            "This colour is too light to see on a white page (contrast %(ratio)s:1, at "
            "least %(minimum)s:1 is needed). Please choose a darker one.",
            ratio=f"{ratio:.1f}", minimum=f"{GRAPHIC_CONTRAST:.0f}")})
    return colour


# --- reading, cached ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Cached:
    loaded_at: float
    look: Look


_caches: weakref.WeakKeyDictionary[Engine, _Cached] = weakref.WeakKeyDictionary()


def default_name() -> str:
    """The display name of ``MAIL_DEFAULT_SENDER``, or "Urgent Actions"."""
    name, _address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])
    return name.strip() or DEFAULT_NAME


def _row() -> Branding | None:
    return db.session.execute(select(Branding).order_by(Branding.id).limit(1)).scalar()


def _look_of(row: Branding | None) -> Look:
    colour = (row.primary_colour if row else "") or DEFAULT_COLOUR
    on_colour, hover, ink = theme(colour) if colour != DEFAULT_COLOUR else DEFAULT_THEME
    if row is None:
        look = Look(default_name(), colour, on_colour, hover, ink)
    else:
        look = Look(
            name=row.organization_name or default_name(), colour=colour,
            on_colour=on_colour, hover=hover, ink=ink, footer_text=row.footer_text,
            footer_links=tuple(FooterLink(link["label"], link["url"])
                               for link in row.footer_links or []),
            logo=images.view(row.logo), custom=True)
    version = hashlib.sha256(json.dumps(
        [look.name, look.stylesheet], ensure_ascii=False).encode()).hexdigest()[:16]
    return Look(**{**look.__dict__, "version": version})


def default_look() -> Look:
    """The look with nothing set."""
    return _look_of(None)


def current() -> Look:
    """The branding, from this process's copy if it is less than CACHE_SECONDS old."""
    engine = db.engine
    now = time.monotonic()
    cached = _caches.get(engine)
    if cached is None or now - cached.loaded_at >= CACHE_SECONDS:
        cached = _caches[engine] = _Cached(now, _look_of(_row()))
    return cached.look


def forget_cached() -> None:
    _caches.clear()


def sender() -> str:
    """``MAIL_DEFAULT_SENDER`` with the organization's name as its display name."""
    configured = current_app.config["MAIL_DEFAULT_SENDER"]
    look = current()
    if not look.custom:
        return configured
    _name, address = parseaddr(configured)
    return formataddr((look.name, address))


# --- changing ----------------------------------------------------------------------------

def parse_links(text: str) -> list[dict[str, str]]:
    """Footer links, one a line as ``label | https://…``; BrandingError if one is not."""
    links = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        label, bar, url = line.rpartition("|")
        label, url = label.strip(), url.strip()
        parts = urlsplit(url)
        if not bar or not label or parts.scheme not in ("https", "http", "mailto") or \
                not (parts.netloc or parts.scheme == "mailto") or len(label) > 100 or \
                len(url) > 500:
            raise BrandingError({"footer_links": gettext(
                "Write one link a line as “label | https://address”: “%(line)s” is not.",
                line=line.strip()[:120])})
        links.append({"label": label, "url": url})
    if len(links) > MAX_LINKS:
        raise BrandingError({"footer_links": gettext(
            "At most %(count)d links, please.", count=MAX_LINKS)})
    return links


def links_text(links: list[dict[str, str]]) -> str:
    return "\n".join(f"{link['label']} | {link['url']}" for link in links)


def stored() -> Branding | None:
    """The row as admins edit it (not cached)."""
    return _row()


def update(*, organization_name: str, primary_colour: str, footer_text: str,
           footer_links: str, logo: bytes = b"", remove_logo: bool = False,
           actor: User | None, via: str = "web") -> Branding:
    """Save the branding, audited, and commit. BrandingError names each bad field."""
    errors: dict[str, str] = {}
    values: dict[str, object] = {"organization_name": " ".join(organization_name.split()),
                                 "footer_text": footer_text.replace("\r\n", "\n").strip()}
    for name in ("organization_name", "footer_text", "footer_links"):
        raw = str(values.get(name, footer_links))
        if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in raw):
            errors[name] = gettext("Please remove the control characters from this text.")
    for name, check, raw in (("primary_colour", check_colour, primary_colour),
                             ("footer_links", parse_links, footer_links)):
        try:
            values[name] = check(raw)
        except BrandingError as exc:
            errors.update(exc.errors)
    new_logo = None
    if logo:
        try:
            new_logo = images.store(logo, images.LOGO_WIDTHS, keep_alpha=True)
        except ImageError as exc:
            errors["logo"] = str(exc)
    if errors:
        db.session.rollback()
        raise BrandingError(errors)
    row = _row()
    if row is None:
        row = Branding()
        db.session.add(row)
    before = {"organization_name": row.organization_name, "primary_colour": row.primary_colour,
              "footer_text": row.footer_text, "footer_links": row.footer_links or [],
              "logo": row.logo_image_id}
    for name, value in values.items():
        setattr(row, name, value)
    old_logo = row.logo
    if new_logo is not None or remove_logo:
        row.logo = new_logo
    db.session.flush()
    if old_logo is not None and old_logo is not row.logo:
        images.discard(old_logo)
    audit.record("branding.update", "branding", row.id, actor=actor, via=via, before=before,
                 after={**values, "logo": row.logo_image_id})
    db.session.commit()
    forget_cached()
    return row
