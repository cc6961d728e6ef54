"""The organization's look: its name, logo, colour and footer (one row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.extensions import db
from petitions.models.images import StoredImage
from petitions.models.types import BigId, UTCDateTime, utcnow


class Branding(db.Model):
    """Empty values mean "the default": the app looks right with nothing set."""

    __tablename__ = "branding"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    logo_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL"))
    # "#rrggbb", lower case, or "" for the default colour.
    primary_colour: Mapped[str] = mapped_column(String(7), default="", server_default="")
    footer_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # [{"label": "Contact", "url": "https://example.org/contact"}, …]
    footer_links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list,
                                                               server_default="[]")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    logo: Mapped[StoredImage | None] = relationship()
