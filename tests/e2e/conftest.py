"""Browser tests: the app served on a free port by a real HTTP server in a thread,
driven by Playwright in Debian's headless Chromium, mail caught by the real SMTP
server of tests/conftest.py.

Chromium is found at /usr/bin/chromium (``apt-get install chromium``; .ci/run does
it): Playwright's own browser downloads can't be used here. Without it the tests
skip, and under CI=true they fail.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import free_port, service_missing
from tests.i18n_support import compile_catalogs

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
# axe-core rules for WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture(scope="session")
def live_server(_session_app: Flask) -> Iterator[str]:
    """The test app over real HTTP, in a thread; the tests' data is visible to it."""
    compile_catalogs()
    server = make_server("127.0.0.1", free_port(), _session_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


class OtherSite:
    """Another website, on its own port and host name (localhost, where the app is
    127.0.0.1: another site to the browser), serving the pages a test gives it."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.server = make_server("127.0.0.1", free_port(), self._wsgi, threaded=True)
        self.url = f"http://localhost:{self.server.server_port}"

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = self.pages.get(environ["PATH_INFO"])
        if body is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body.encode()]


@pytest.fixture(scope="session")
def other_site() -> Iterator[OtherSite]:
    site = OtherSite()
    thread = threading.Thread(target=site.server.serve_forever, name="other-site", daemon=True)
    thread.start()
    yield site
    site.server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        service_missing("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Any, app: Flask) -> Iterator[Any]:
    """``new_page(viewport, **context_options)``: a page in a fresh browser context
    (its own cookies). CSP is bypassed only so that axe-core can be injected."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, bypass_csp=True, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical WCAG 2.2 AA violations axe-core finds on the page."""
    script = resources.files("axe_playwright_python").joinpath("axe.min.js")
    with resources.as_file(script) as path:
        page.add_script_tag(path=str(path))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"]
    path = SCREENSHOTS / f"{name}-{width}px.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def fits_the_width(page: Any) -> bool:
    """No horizontal scrolling: nothing is wider than the viewport."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth")
