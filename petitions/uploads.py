"""A larger body limit for the few routes that take a picture.

Every other route keeps the app's 1 MiB (``MAX_CONTENT_LENGTH``). The limit must be
known before the CSRF check reads the form, hence a request class rather than a line
in the view."""

from __future__ import annotations

from flask import Request

from petitions.services.images import MAX_UPLOAD_BYTES

UPLOAD_ENDPOINTS = frozenset({"admin.action_image", "admin.branding_settings",
                              "api.put_action_image"})
# Room for a picture somewhat over the limit, so that it is refused with a message
# next to its field rather than with a bare 413 page.
UPLOAD_BODY_LIMIT = 2 * MAX_UPLOAD_BYTES


class PetitionsRequest(Request):
    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self.endpoint in UPLOAD_ENDPOINTS:
            return UPLOAD_BODY_LIMIT
        return super().max_content_length
