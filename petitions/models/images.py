"""Pictures uploaded by staff (an action's hero image, the organization's logo), kept
in the database so that every web process and container serves the same bytes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.extensions import db
from petitions.models.types import BigId, UTCDateTime, utcnow


class StoredImage(db.Model):
    """One uploaded picture, as the resized copies made of it (never the upload itself,
    which may carry EXIF metadata such as the place a photo was taken)."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    renditions: Mapped[list[ImageRendition]] = relationship(
        back_populates="image", order_by="ImageRendition.width",
        cascade="all, delete-orphan", passive_deletes=True)


class ImageRendition(db.Model):
    """One width of a picture, served at a URL naming its content's digest, so that
    browsers and caches may keep it for a year."""

    __tablename__ = "image_renditions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"),
                                          index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)

    image: Mapped[StoredImage] = relationship(back_populates="renditions")
