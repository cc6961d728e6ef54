"""Telling people from scripts on the forms that send mail, without third-party services.

The signing form (the action page and the embeddable widget) and the form that joins
the urgent-action network are guarded by three checks, all switched off together by
``BOT_CHECKS_ENABLED=false``:

- a honeypot: a text field people never see (hidden by CSS, out of the tab order,
  hidden from screen readers) that form-filling scripts fill in;
- a stamp: the form carries the time it was shown and a random id, signed with the
  ``SECRET_KEY``. A form sent back sooner than ``BOT_MIN_FILL_SECONDS`` may not have
  been typed by a person; a stamp older than ``BOT_STAMP_MAX_AGE_SECONDS`` is refused,
  and so is a stamp sent a second time (the ids used are kept in the rate limiter's
  storage, Redis in production, for the stamp's lifetime);
- for actions an admin marks ``proof_of_work``, and for the network form unless
  ``NETWORK_PROOF_OF_WORK=false``: a small proof of work in the manner of ALTCHA. The
  server picks a salt and a secret number, and sends SHA-256(salt + number) with an
  HMAC of it; the browser (``static/js/pow.js``) tries numbers until the hash matches
  and sends the solution back. A person's browser spends a second; a flood of
  thousands costs the sender dearly. The salt names the form and the visitor it was
  given to (a keyed digest of their session's CSRF secret; in the embed widget, framed
  on another site where the browser withholds our session cookie, of their IP
  address), so a solution is good once, for that visitor, for an hour.

What a person's browser never sends (a filled honeypot, a forged stamp or puzzle)
gets the answer a person gets and stores nothing, so a script learns nothing from
the response. What a person may well send (a form sent very fast by autofill, kept
open for hours, sent twice, or a puzzle from another session) gets the form back
with the input kept and a message asking to send it again.

The time a person takes is counted from their first interaction with the form, not
only from the page load: ``pow.js`` notes when the visitor first focuses, types in,
or touches the form, and sends how long ago that was (``ACTIVE_FIELD``, in ms). That
is a claim of the browser, so it only ever relaxes the minimum fill time, and only
together with a solved proof of work (the real cost to a bot): a form whose stamp is
younger than ``BOT_MIN_FILL_SECONDS`` is accepted when the puzzle is solved and the
visitor was busy with the form for at least ``PLAUSIBLE_ACTIVE_MS``; otherwise it is
shown again, never dropped. The form shown again keeps the first stamp's time (a new
id), so a person who sends it again once the minimum time has passed since they first
saw the form is accepted even without the script.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, current_app, g, has_request_context, request, session
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeSerializer

log = logging.getLogger(__name__)


NETWORK_SCOPE = "network"
# Framed on other sites: the browser sends no session cookie of ours with its forms.
EMBED_ENDPOINTS = frozenset({"public.embed"})


class PuzzleOwner(Protocol):
    """What the form's fields need of an action: an ``Action``, or what a cached page
    keeps of it (``petitions.page_cache.PuzzleTarget``)."""

    @property
    def id(self) -> int: ...

    @property
    def proof_of_work(self) -> bool: ...


@dataclass(frozen=True)
class GuardedForm:
    """A form the checks guard: ``scope`` names it in its puzzles (a puzzle of one form
    solves no other), ``proof_of_work`` says whether it asks for one."""

    scope: str
    proof_of_work: bool


def guarded(owner: PuzzleOwner | GuardedForm) -> GuardedForm:
    """The signing form of an action (or the form itself, given one)."""
    if isinstance(owner, GuardedForm):
        return owner
    return GuardedForm(f"action-{owner.id}", bool(owner.proof_of_work))


def network_form() -> GuardedForm:
    """The form that joins the urgent-action network."""
    return GuardedForm(NETWORK_SCOPE, current_app.config["NETWORK_PROOF_OF_WORK"])


HONEYPOT_FIELD = "website"
STAMP_FIELD = "form_stamp"
POW_FIELD = "pow_solution"
POW_ALGORITHM = "SHA-256"
POW_LIFETIME_SECONDS = 3600
# How long (ms) the visitor was busy with the form, as their browser counts it.
ACTIVE_FIELD = "bc_active_ms"
ACTIVE_MAX_MS = 24 * 3600 * 1000
# Typing a name and an address in a second is fast but human (autofill, pasting).
PLAUSIBLE_ACTIVE_MS = 1000
TOO_FAST = "form sent too fast"  # the reason logged, and the one that keeps the time


class Verdict(enum.Enum):
    PERSON = "person"
    # What a person's browser never sends: answered as a person is, nothing stored.
    BOT = "bot"
    # Proof of work required but not sent: most likely a browser without JavaScript.
    NEEDS_SCRIPT = "needs_script"
    # What a person may send (too fast, too old, sent twice, another session's puzzle):
    # the form is shown again, input kept, with a fresh stamp and puzzle.
    SEND_AGAIN = "send_again"


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
    """The signed time the form was shown, with a random id that makes it single-use."""
    return _stamp_serializer().dumps(
        [round(now if now is not None else time.time(), 3), secrets.token_hex(12)])


def _visitor(create: bool) -> str:
    """A keyed digest of what identifies the visitor a puzzle is given to: their
    session's CSRF secret on our own pages; their IP address in the embed widget, where
    a cross-site frame gets no session cookie of ours. ``create``: start the session's
    secret if it has none (when a form is shown, not when one is checked)."""
    if not has_request_context():  # a puzzle made for a test or the docs
        raw = "none"
    elif request.endpoint in EMBED_ENDPOINTS:
        raw = "ip:" + (request.remote_addr or "")
    else:
        name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        if create and name not in session:
            generate_csrf()
        raw = "session:" + str(session.get(name, ""))
    return _hmac(raw)[:24]


def _puzzle(salt: str, number: int) -> str:
    """The hash the browser searches for: SHA-256 of the salt and the secret number."""
    return hashlib.sha256(f"{salt}{number}".encode()).hexdigest()


def issue_challenge(owner: PuzzleOwner | GuardedForm, now: float | None = None) -> Challenge:
    """A puzzle for one form and the visitor it is shown to, that expires after an hour."""
    expires = int((now if now is not None else time.time()) + POW_LIFETIME_SECONDS)
    salt = (f"{secrets.token_hex(12)}?expires={expires}&for={guarded(owner).scope}"
            f"&visitor={_visitor(create=True)}")
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


class _Solution(enum.Enum):
    GOOD = "good"
    FORGED = "forged"      # not a puzzle we issued, or not solved, or for another form
    STALE = "stale"        # ours and solved, but expired or given to another visitor


def _judge_solution(raw: str, form: GuardedForm, now: float) -> tuple[_Solution, str]:
    """What to make of the puzzle solution ``raw`` (base64 JSON from the browser), and
    the challenge it solves."""
    try:
        payload: Any = json.loads(base64.b64decode(raw, validate=True))
        algorithm, challenge = payload["algorithm"], payload["challenge"]
        number, salt, signature = payload["number"], payload["salt"], payload["signature"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        return _Solution.FORGED, ""
    if not (algorithm == POW_ALGORITHM and isinstance(number, int)
            and all(isinstance(v, str) for v in (challenge, salt, signature))):
        return _Solution.FORGED, ""
    params = _salt_params(salt)
    try:
        expires = int(params.get("expires", ""))
    except ValueError:
        return _Solution.FORGED, ""
    if not (hmac.compare_digest(_hmac(challenge), signature)
            and hmac.compare_digest(_puzzle(salt, number), challenge)
            and params.get("for") == form.scope):
        return _Solution.FORGED, ""
    if expires < now or not hmac.compare_digest(params.get("visitor", ""),
                                                _visitor(create=False)):
        return _Solution.STALE, challenge
    return _Solution.GOOD, challenge


def verify_solution(raw: str, owner: PuzzleOwner | GuardedForm,
                    now: float | None = None) -> str | None:
    """The puzzle ``raw`` solves, if it is one we issued for this form and this visitor
    and it has not expired; None otherwise."""
    verdict, challenge = _judge_solution(raw, guarded(owner),
                                         now if now is not None else time.time())
    return challenge if verdict is _Solution.GOOD else None


def _first_use(kind: str, key: str, lifetime: int) -> bool:
    """Whether this is the first time ``key`` (a stamp's id, a solved puzzle) is used:
    a flood can't get one past the checks and replay it. Counted in the rate limiter's
    storage (Redis in production, shared by every process), for ``lifetime`` seconds."""
    from petitions.security import limiter_of

    storage = limiter_of(current_app).storage
    return storage.incr(f"{kind}-used:{key}", max(1, lifetime)) == 1


def _read_stamp(stamp: str) -> tuple[float, str] | None:
    """The time and id of a stamp we signed; None for a forged or missing one."""
    try:
        shown = _stamp_serializer().loads(stamp)
    except BadSignature:
        return None
    if (isinstance(shown, list) and len(shown) == 2 and isinstance(shown[0], int | float)
            and isinstance(shown[1], str)):
        return float(shown[0]), shown[1]
    return 0.0, ""  # signed by us in another shape (an older release): long expired


def _active_ms(form: Mapping[str, str]) -> int:
    """How long the browser says the visitor was busy with the form: 0 unless it is a
    whole number of milliseconds, clamped to a day."""
    raw = form.get(ACTIVE_FIELD, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        return 0
    return min(int(raw), ACTIVE_MAX_MS)


def check(form: Mapping[str, str], owner: PuzzleOwner | GuardedForm,
          now: float | None = None) -> Verdict:
    """Judge a posted form. Logs why a bot was suspected, never who."""
    config = current_app.config
    if not config["BOT_CHECKS_ENABLED"]:
        return Verdict.PERSON
    guarded_form = guarded(owner)
    current = now if now is not None else time.time()
    verdict, reason = _judge(form, guarded_form, current)
    if verdict is Verdict.SEND_AGAIN and reason == TOO_FAST and has_request_context():
        # The form shown again counts from when the person first saw it.
        stamp = _read_stamp(form.get(STAMP_FIELD, ""))
        g.bot_check_shown = stamp[0] if stamp else None
    if verdict is Verdict.BOT:
        log.info("A form of %s taken for a bot (%s); nothing stored", guarded_form.scope,
                 reason)
    elif verdict is Verdict.SEND_AGAIN:
        log.info("A form of %s shown again to be sent again (%s)", guarded_form.scope,
                 reason)
    return verdict


def _judge(form: Mapping[str, str], guarded_form: GuardedForm,
           now: float) -> tuple[Verdict, str]:
    config = current_app.config
    if form.get(HONEYPOT_FIELD, ""):
        return Verdict.BOT, "honeypot filled"
    stamp = _read_stamp(form.get(STAMP_FIELD, ""))
    if stamp is None:
        return Verdict.BOT, "form stamp missing or forged"
    shown, stamp_id = stamp
    max_age = config["BOT_STAMP_MAX_AGE_SECONDS"]
    if not stamp_id or now - shown > max_age:
        return Verdict.SEND_AGAIN, "form stamp expired"
    if now - shown < config["BOT_MIN_FILL_SECONDS"] and not (
            guarded_form.proof_of_work and form.get(POW_FIELD, "")
            and _active_ms(form) >= PLAUSIBLE_ACTIVE_MS):
        # Too fast for the stamp, and no busy person with a solved puzzle to vouch.
        return Verdict.SEND_AGAIN, TOO_FAST
    if not _first_use("stamp", stamp_id, math.ceil(max_age)):
        return Verdict.SEND_AGAIN, "form stamp used before"
    if not guarded_form.proof_of_work:
        return Verdict.PERSON, ""
    solution = form.get(POW_FIELD, "")
    if not solution:
        return Verdict.NEEDS_SCRIPT, ""
    judged, challenge = _judge_solution(solution, guarded_form, now)
    if judged is _Solution.FORGED:
        return Verdict.BOT, "proof of work wrong"
    if judged is _Solution.STALE:
        return Verdict.SEND_AGAIN, "proof of work expired or from another visitor"
    if not _first_use("pow", challenge, POW_LIFETIME_SECONDS):
        return Verdict.SEND_AGAIN, "proof of work used before"
    return Verdict.PERSON, ""


def screen(owner: PuzzleOwner | GuardedForm) -> Verdict:
    """Check the posted form of this request. For a verdict that asks the person to
    send the form again, note why for the form's template (``_visitor_fields.html``)."""
    verdict = check(request.form, owner)
    if verdict is Verdict.NEEDS_SCRIPT:
        g.pow_needs_script = True
    elif verdict is Verdict.SEND_AGAIN:
        g.bot_check_send_again = True
    return verdict


def form_fields(owner: PuzzleOwner | GuardedForm) -> dict[str, Any]:
    """What the template needs to render the hidden fields."""
    enabled = current_app.config["BOT_CHECKS_ENABLED"]
    guarded_form = guarded(owner)
    return {
        "enabled": enabled,
        "honeypot": HONEYPOT_FIELD,
        "stamp_field": STAMP_FIELD,
        "stamp": issue_stamp(g.get("bot_check_shown")) if enabled else "",
        "pow_field": POW_FIELD,
        "active_field": ACTIVE_FIELD,
        "network": guarded_form.scope == NETWORK_SCOPE,  # its texts speak of joining
        "challenge": (issue_challenge(guarded_form)
                      if enabled and guarded_form.proof_of_work else None),
    }


def init_app(app: Flask) -> None:
    app.jinja_env.globals["bot_check_fields"] = form_fields
