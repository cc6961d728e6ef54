"""``make run`` needs no server: SQLite, kombu's filesystem broker and a file outbox.

This starts the processes of ``Procfile.dev`` (what ``make run`` starts through
honcho: the web app, a real Celery worker and beat) in a temporary instance folder,
with none of the database, broker or mail settings, and walks a supporter through
them over real HTTP. It needs no external service, so it never skips.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from tests.conftest import confirmation_link, free_port
from tests.integration.conftest import (
    BIN,
    FLASK,
    ROOT,
    BackgroundProcess,
    clean_environment,
    wait_until,
)

DEMO = "camp-liberty-safety"
CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def procfile(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """Real HTTP with a cookie jar (the session holds the CSRF secret); redirects are
    returned, not followed, so their status can be checked."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirects())

    def request(self, path: str, form: dict[str, str] | None = None
                ) -> tuple[int, dict[str, str], str]:
        url = path if path.startswith("http") else self.base_url + path
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(url, data=data, timeout=15) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            try:
                return error.code, dict(error.headers), error.read().decode()
            finally:
                error.close()

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        return self.request(path)

    def post(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, str], str]:
        return self.request(path, form)

    def csrf_token(self, path: str) -> str:
        status, _, page = self.get(path)
        assert status == 200, (path, status)
        match = CSRF.search(page)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def hidden_value(self, path: str, name: str) -> str:
        """A hidden field of the page's form, e.g. the bot checks' ``form_stamp``."""
        status, _, page = self.get(path)
        assert status == 200, (path, status)
        match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
        assert match, f"no hidden field {name!r} on {path}"
        return match.group(1)

    def count(self) -> int:
        status, _, body = self.get(f"/api/v1/actions/{DEMO}")
        assert status == 200, body
        return json.loads(body)["signature_count"]

    def answers(self) -> bool:
        try:
            return self.get("/")[0] == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False


def test_the_zero_server_default_of_make_run_works(tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    instance = tmp_path / "instance"
    # Only where things go (a temporary instance folder, a free port, links to it):
    # no database, broker or mail setting at all. The working directory is the
    # temporary folder, so the relative paths of Procfile.dev land there too.
    # BOT_MIN_FILL_SECONDS: this browser fills the form faster than a person could.
    env = clean_environment(INSTANCE_PATH=str(instance), BASE_URL=base_url, PORT=str(port),
                            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                            BOT_MIN_FILL_SECONDS="0")

    for command in (["db", "upgrade"], ["demo", "seed"]):
        done = subprocess.run([FLASK, "--app", "petitions", *command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    assert f"Created the demo action /actions/{DEMO}" in done.stdout

    commands = procfile(ROOT / "Procfile.dev")
    assert set(commands) == {"web", "worker", "beat"}
    processes = {name: BackgroundProcess(name, ["bash", "-c", f"exec {command}"], env=env,
                                         cwd=tmp_path, log_path=tmp_path / f"{name}.log")
                 for name, command in commands.items()}
    web, worker, beat = processes["web"], processes["worker"], processes["beat"]
    try:
        for process in processes.values():
            process.start()
        browser = Browser(base_url)

        def web_answers() -> bool:
            web.check_alive()
            return browser.answers()

        wait_until(web_answers, 60, interval=0.2, what=lambda: "the web app\n" + web.log_tail())
        worker.wait_for_log(r"@\S+ ready\.", 60)
        beat.wait_for_log(r"beat: Starting", 60)

        # Sign, as a browser does: the form's CSRF token, the session cookie.
        page = f"/actions/{DEMO}"
        assert browser.count() == 0
        token = browser.csrf_token(page)
        stamp = browser.hidden_value(page, "form_stamp")
        status, headers, _ = browser.post(page, {
            "csrf_token": token, "form_stamp": stamp, "website": "",
            "first_name": "Noor", "last_name": "Haddad",
            "email": "noor.haddad@example.org", "country": "IQ", "postcode": "",
            "comment": ""})
        assert status == 303
        assert headers["Location"].endswith(f"/actions/{DEMO}/check-email")

        # The worker writes the email to the outbox folder, and (in development, with
        # no mail server) logs the same confirmation link for the newcomer to click.
        outbox = instance / "outbox"
        [eml] = wait_until(lambda: sorted(outbox.glob("*.eml")), 60, interval=0.2,
                           what=lambda: f"an .eml file in {outbox}\n" + worker.log_tail())
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert "noor.haddad@example.org" in str(message["To"])
        link = confirmation_link(message)
        assert link.startswith(f"{base_url}/confirm/")
        logged = worker.wait_for_log(r"Development outbox: confirmation link: (\S+)")
        assert logged.group(1) == link

        # Opening the link changes nothing; the button confirms.
        status, _, body = browser.get(link)
        assert status == 200 and "Confirm my signature" in body
        assert browser.count() == 0
        status, headers, _ = browser.post(link, {"csrf_token": browser.csrf_token(link)})
        assert status == 303
        assert headers["Location"].endswith(f"/actions/{DEMO}/thank-you")
        assert browser.get(headers["Location"])[0] == 200
        # The public count may come from the page cache: exact within PUBLIC_CACHE_SECONDS.
        wait_until(lambda: browser.count() == 1, 15, interval=0.2,
                   what="the public count to show the confirmed signature")

        # Everything lived in the instance folder, and all three processes are still up.
        assert (instance / "petitions.sqlite").is_file()
        assert (instance / "pii-keys.json").is_file()
        assert (instance / "broker" / "queue").is_dir()
        for process in processes.values():
            process.check_alive()
    finally:
        for process in processes.values():
            process.stop()
