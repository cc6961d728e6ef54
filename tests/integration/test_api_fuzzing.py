"""Schemathesis against the running API, as a stranger, an admin and an organizer.

The app is served over real HTTP on a free port, on PostgreSQL with Redis as its
broker, and ``st run`` (schemathesis's own command line, in a subprocess) reads its
``/api/v1/openapi.json`` and sends generated requests, valid and invalid ones, with
every check it has (``--checks all``): no 5xx, every status, content type, header
and body as documented, invalid input refused, valid input accepted, no route that
ignores its authentication, 405 with ``Allow`` for undocumented methods. Any failure
fails the test, with schemathesis's report (and a curl line to replay each case).

The path parameters are pinned to an action, and a delivery, that exist, so the
generated requests reach the routes' real work rather than their 404. The calls that
change the action (PATCH) run last, in a run of their own, so that a generated
rename does not leave the other routes only the 404 to test.

Bounded: ``MAX_EXAMPLES`` per operation and phase, with a fixed seed, so a run is
the same every time and the whole test takes a minute or two.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from petitions.extensions import db
from petitions.models import Action
from petitions.services import deliveries
from tests.api_factories import bearer, make_staff, make_token
from tests.conftest import free_port
from tests.factories import make_action, make_confirmed_signature
from tests.integration.conftest import clean_environment

ST = str(Path(sys.executable).parent / "st")
MAX_EXAMPLES = 15
SEED = 13
RUN_TIMEOUT = 300
# Rules no schema can state may refuse a valid request with 422: an organizer's
# address that is no organizer's account, a status the action can't move to from
# where it is, a delivery while one is under way, a file that is no picture (a schema
# says "binary", not "a JPEG"). Allowed on those operations only.
STATEFUL_RULES = ("POST /actions", "PATCH /actions/{slug}", "POST /actions/{slug}/deliveries",
                  "PUT /actions/{slug}/image")


def schemathesis_config(action: Action, delivery_id: int) -> str:
    """schemathesis.toml: the pinned path parameters, the 422s allowed above, and the
    organizers' addresses as likely values of ``organizers`` (random ones are no
    account, so a body would hardly ever be taken)."""
    organizers = ", ".join(f'"{user.email}"' for user in action.organizers)
    lines = [f"[dictionaries.organizers]\nvalues = [{organizers}]",
             "[parameters]", f'"path.slug" = "{action.slug}"',
             f'"path.delivery_id" = {delivery_id}',
             '"body.organizers[*]" = { dictionary = "organizers", probability = 0.9 }']
    for name in STATEFUL_RULES:
        lines += ["[[operations]]", f'include-name = "{name}"',
                  "checks.positive_data_acceptance.expected-statuses = ["
                  '"2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]']
    return "\n".join(lines) + "\n"


class _QuietHandler(WSGIRequestHandler):
    """No access log: thousands of lines that would bury schemathesis's report."""

    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


@pytest.fixture
def api_url(live_app: Flask) -> Iterator[str]:
    """The live app (PostgreSQL, Redis) over HTTP, in a thread of this process."""
    server = make_server("127.0.0.1", free_port(), live_app, threaded=True,
                         request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="fuzzed-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1/openapi.json"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def fuzzed_action(role: str) -> tuple[Action, int, dict[str, str]]:
    """A published action with a signer, a delivery and an organizer, and the headers
    of ``role``: nothing for ``anonymous``, else a token of an admin or of the
    action's organizer."""
    action = make_action(slug=f"fuzzed-{role}")
    make_confirmed_signature(action, first_name="Amal", country="FR")
    admin = make_staff("admin")
    organizer = make_staff("organizer")
    action.organizers.append(organizer)
    db.session.commit()
    delivery = deliveries.request_delivery(action, actor=admin, via="api")
    tokens = {"admin": make_token(admin), "organizer": make_token(organizer)}
    return action, delivery.id, bearer(tokens[role]) if role in tokens else {}


def run_schemathesis(url: str, action: Action, delivery_id: int, headers: dict[str, str],
                     tmp_path: Path, *methods: str,
                     exclude: bool = False) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(action, delivery_id))
    args = [ST, "--config-file", str(config), "run", url, "--checks", "all",
            "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
            "--generation-database", "none", "--no-color", "--max-failures", "20",
            "--request-timeout", "30", "--report", "har", "--report-dir", str(tmp_path)]
    for name, value in headers.items():
        args += ["--header", f"{name}: {value}"]
    for method in methods:
        args += ["--exclude-method" if exclude else "--include-method", method]
    return subprocess.run(args, cwd=tmp_path, env=clean_environment(), capture_output=True,
                          text=True, timeout=RUN_TIMEOUT, check=False)


@pytest.mark.parametrize("role", ["anonymous", "admin", "organizer"])
def test_the_api_keeps_to_its_description(api_url: str, tmp_path: Path, role: str) -> None:
    action, delivery_id, headers = fuzzed_action(role)
    for methods, exclude in ((("PATCH",), True), (("PATCH",), False)):
        done = run_schemathesis(api_url, action, delivery_id, headers, tmp_path, *methods,
                                exclude=exclude)
        report = done.stdout[-20000:] + done.stderr[-4000:]
        assert done.returncode == 0, report
        # Every generated case passed every check (and there were cases at all).
        assert re.search(r"^\s*(\d+) generated, \1 passed(, \d+ skipped)?$", done.stdout,
                         re.MULTILINE), report
