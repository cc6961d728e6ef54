"""Telling people from scripts on the signing form, without third-party services.

Three checks, all switched off together by ``BOT_CHECKS_ENABLED=false``:

- a honeypot: a text field people never see (hidden by CSS, out of the tab order,
  hidden from screen readers) that form-filling scripts fill in;
- a minimum fill time: the form carries the time it was shown, signed with the
  ``SECRET_KEY``; a form sent back sooner than ``BOT_MIN_FILL_SECONDS`` was not
  typed by a person;
- for actions an admin marks ``proof_of_work``: a small proof of work in the manner
  of ALTCHA. The server picks a salt and a secret number, and sends
  SHA-256(salt + number) with an HMAC of it; the browser (``static/js/pow.js``)
  tries numbers until the hash matches and sends the solution back. A person's
  browser spends a second; a flood of thousands costs the sender dearly.

A submission taken for a bot gets the same answer as a real one and stores
nothing, so a script learns nothing from the response.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeSerializer

from petitions.models import Action

log = logging.getLogger(__name__)


class PuzzleOwner(Protocol):
    """What the form's fields need of an action: an ``Action``, or what a cached page
    keeps of it (``petitions.page_cache.PuzzleTarget``)."""

    @property
    def id(self) -> int: ...

    @property
    def proof_of_work(self) -> bool: ...

HONEYPOT_FIELD = "website"
STAMP_FIELD = "form_stamp"
POW_FIELD = "pow_solution"
POW_ALGORITHM = "SHA-256"
POW_LIFETIME_SECONDS = 3600


class Verdict(enum.Enum):
    PERSON = "person"
    BOT = "bot"
    # Proof of work required but not sent: most likely a browser without JavaScript.
    NEEDS_SCRIPT = "needs_script"


@dataclass(frozen=True)
class Challenge:
    algorithm: str
    challenge: str
    salt: str
    maxnumber: int
    signature: str

    def as_json(self) -> str:
        return json.dumps({"algorithm": self.algorithm, "challenge": self.challenge,
                           "salt": self.salt, "maxnumber": self.maxnumber,
                           "signature": self.signature})


def _key() -> bytes:
    return hashlib.sha256(("pow:" + current_app.config["SECRET_KEY"]).encode()).digest()


def _hmac(value: str) -> str:
    return hmac.new(_key(), value.encode(), hashlib.sha256).hexdigest()


def _stamp_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="signing-form-stamp")


def issue_stamp(now: float | None = None) -> str:
    """The signed time the form was shown."""
    return _stamp_serializer().dumps(round(now if now is not None else time.time(), 3))


def _puzzle(salt: str, number: int) -> str:
    """The hash the browser searches for: SHA-256 of the salt and the secret number."""
    return hashlib.sha256(f"{salt}{number}".encode()).hexdigest()


def issue_challenge(action: PuzzleOwner, now: float | None = None) -> Challenge:
    """A puzzle bound to ``action`` that expires after an hour."""
    expires = int((now if now is not None else time.time()) + POW_LIFETIME_SECONDS)
    salt = f"{secrets.token_hex(12)}?expires={expires}&action={action.id}"
    maximum = current_app.config["POW_MAX_NUMBER"]
    number = secrets.randbelow(maximum + 1)
    challenge = _puzzle(salt, number)
    return Challenge(POW_ALGORITHM, challenge, salt, maximum, _hmac(challenge))


def solve(challenge: Challenge) -> str:
    """What the browser script does, in Python: for tests and for the docs."""
    for number in range(challenge.maxnumber + 1):
        if _puzzle(challenge.salt, number) == challenge.challenge:
            payload = {"algorithm": challenge.algorithm, "challenge": challenge.challenge,
                       "number": number, "salt": challenge.salt,
                       "signature": challenge.signature}
            return base64.b64encode(json.dumps(payload).encode()).decode()
    raise ValueError("no solution")


def _salt_params(salt: str) -> dict[str, str]:
    _, _, query = salt.partition("?")
    return dict(part.split("=", 1) for part in query.split("&") if "=" in part)


def verify_solution(raw: str, action: Action, now: float | None = None) -> str | None:
    """The puzzle ``raw`` (base64 JSON from the browser) solves, if it is one we issued
    for ``action`` and it has not expired; None otherwise."""
    try:
        payload: Any = json.loads(base64.b64decode(raw, validate=True))
        algorithm, challenge = payload["algorithm"], payload["challenge"]
        number, salt, signature = payload["number"], payload["salt"], payload["signature"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None
    if not (algorithm == POW_ALGORITHM and isinstance(number, int)
            and all(isinstance(v, str) for v in (challenge, salt, signature))):
        return None
    params = _salt_params(salt)
    try:
        expires = int(params.get("expires", ""))
    except ValueError:
        return None
    current = now if now is not None else time.time()
    valid = (hmac.compare_digest(_hmac(challenge), signature)
             and hmac.compare_digest(_puzzle(salt, number), challenge)
             and expires >= current and params.get("action") == str(action.id))
    return challenge if valid else None


def _first_use(challenge: str) -> bool:
    """A solved puzzle is good for one signature: a flood can't solve once and replay it.
    Counted in the rate limiter's storage (Redis in production), for the puzzle's life."""
    from petitions.security import limiter_of

    storage = limiter_of(current_app).storage
    return storage.incr(f"pow-used:{challenge}", POW_LIFETIME_SECONDS) == 1


def _fill_seconds(stamp: str, now: float) -> float | None:
    try:
        shown = _stamp_serializer().loads(stamp)
    except BadSignature:
        return None
    if not isinstance(shown, int | float):
        return None
    return now - shown


def check(form: Mapping[str, str], action: Action, now: float | None = None) -> Verdict:
    """Judge a posted signing form. Logs why a bot was suspected, never who."""
    config = current_app.config
    if not config["BOT_CHECKS_ENABLED"]:
        return Verdict.PERSON
    current = now if now is not None else time.time()
    reason = None
    if form.get(HONEYPOT_FIELD, ""):
        reason = "honeypot filled"
    else:
        seconds = _fill_seconds(form.get(STAMP_FIELD, ""), current)
        if seconds is None:
            reason = "form stamp missing or forged"
        elif seconds < config["BOT_MIN_FILL_SECONDS"]:
            reason = "form sent too fast"
        elif action.proof_of_work:
            solution = form.get(POW_FIELD, "")
            if not solution:
                return Verdict.NEEDS_SCRIPT
            challenge = verify_solution(solution, action, current)
            if challenge is None:
                reason = "proof of work wrong or expired"
            elif not _first_use(challenge):
                reason = "proof of work used before"
    if reason is None:
        return Verdict.PERSON
    log.info("Signature on action %s taken for a bot (%s); nothing stored", action.id, reason)
    return Verdict.BOT


def form_fields(action: PuzzleOwner) -> dict[str, Any]:
    """What the template needs to render the hidden fields."""
    enabled = current_app.config["BOT_CHECKS_ENABLED"]
    return {
        "enabled": enabled,
        "honeypot": HONEYPOT_FIELD,
        "stamp_field": STAMP_FIELD,
        "stamp": issue_stamp() if enabled else "",
        "pow_field": POW_FIELD,
        "challenge": issue_challenge(action) if enabled and action.proof_of_work else None,
    }


def init_app(app: Flask) -> None:
    app.jinja_env.globals["bot_check_fields"] = form_fields
