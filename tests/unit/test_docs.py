"""The documentation and the Compose file stay in step with the code.

The README's configuration table is generated from ``config.SETTINGS``. After
adding or changing a setting, print a fresh table and paste it into README.md::

    .venv/bin/python -m tests.unit.test_docs

and describe the setting in docs/configuration.md under its own heading.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from config import SETTINGS, Setting

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
COMPOSE = ROOT / "docker-compose.yml"

REGENERATE = "regenerate it with `.venv/bin/python -m tests.unit.test_docs`"
TABLE_ROW = re.compile(r"^\| `(?P<name>[A-Z][A-Z0-9_]*)` \| (?P<default>.*?) \| .* \|$")
SETTING_HEADING = re.compile(r"^### `(?P<name>[A-Z][A-Z0-9_]*)`\s*$", re.MULTILINE)

APP_SERVICES = ("web", "worker", "beat", "migrate")
SHARED_VARIABLES = ("APP_ENV", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MAIL_SERVER",
                    "MAIL_PORT", "BASE_URL", "SECRET_KEY", "PII_ENCRYPTION_KEYS",
                    "PII_INDEX_KEY", "INTAKE_PUBLIC_KEY")
REQUIRED_VARIABLES = ("SECRET_KEY", "PII_ENCRYPTION_KEYS", "PII_INDEX_KEY", "INTAKE_PUBLIC_KEY")


# --- the README's configuration table ----------------------------------------------------

def format_default(setting: Setting) -> str:
    value = setting.default
    if value is None or value == []:
        return "*unset*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, list):
        return f"`{','.join(value)}`"
    return f"`{value}`"


def settings_table() -> str:
    lines = ["| Setting | Default | Meaning |", "| --- | --- | --- |"]
    for setting in SETTINGS:
        meaning = setting.doc.replace("|", "\\|")
        lines.append(f"| `{setting.name}` | {format_default(setting)} | {meaning} |")
    return "\n".join(lines)


def readme_section(heading: str) -> list[str]:
    """The lines of the README section under ``## heading``, up to the next ``## ``."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def test_readme_starts_with_make_run_and_make_test():
    head = README.read_text(encoding="utf-8").splitlines()[:15]
    run = [i for i, line in enumerate(head) if "make run" in line]
    test = [i for i, line in enumerate(head) if "make test" in line]
    assert run, "`make run` must appear in the first 15 lines of README.md"
    assert test, "`make test` must appear in the first 15 lines of README.md"
    assert run[0] < test[0], "README.md presents `make run` before `make test`"


def test_readme_configuration_table_lists_every_setting():
    rows = {}
    for line in readme_section("Configuration"):
        match = TABLE_ROW.match(line)
        if match:
            assert match["name"] not in rows, f"{match['name']} appears twice in the table"
            rows[match["name"]] = match["default"]
    names = [s.name for s in SETTINGS]
    missing = [n for n in names if n not in rows]
    stale = [n for n in rows if n not in names]
    assert not missing, f"README.md's configuration table lacks {missing}; {REGENERATE}"
    assert not stale, f"README.md's configuration table lists unknown settings {stale}"
    wrong = {s.name: (rows[s.name], format_default(s)) for s in SETTINGS
             if rows[s.name] != format_default(s)}
    assert not wrong, f"defaults differ (README, code): {wrong}; {REGENERATE}"


def test_configuration_guide_describes_every_setting():
    text = CONFIGURATION.read_text(encoding="utf-8")
    described = SETTING_HEADING.findall(text)
    names = [s.name for s in SETTINGS]
    missing = [n for n in names if n not in described]
    stale = [n for n in described if n not in names]
    assert not missing, f"docs/configuration.md needs a '### `NAME`' section for {missing}"
    assert not stale, f"docs/configuration.md describes unknown settings {stale}"
    assert len(described) == len(set(described)), "a setting is described twice"


# --- docker-compose.yml ------------------------------------------------------------------

def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_compose_has_every_service():
    services = compose()["services"]
    for name in ("web", "worker", "beat", "migrate", "postgres", "redis", "mailpit"):
        assert name in services, f"docker-compose.yml has no {name} service"


def test_app_services_share_one_environment():
    document = compose()
    shared = document["x-app-environment"]
    assert shared["APP_ENV"] == "production"
    for variable in SHARED_VARIABLES:
        assert variable in shared, f"x-app-environment lacks {variable}"
    for variable in REQUIRED_VARIABLES:
        assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", shared[variable]), (
            f"{variable} must be required with ${{{variable}:?message}}")
    assert shared["DATABASE_URL"].startswith("postgresql://")
    assert shared["CELERY_BROKER_URL"].startswith("redis://")
    for name in APP_SERVICES:
        environment = document["services"][name]["environment"]
        for variable in ("DATABASE_URL", "CELERY_BROKER_URL"):
            assert environment[variable] == shared[variable], (
                f"{name} must take {variable} from the x-app-environment anchor")


def test_only_the_worker_gets_the_intake_private_key():
    """The web tier seals to the public key; only the worker, which serves the vault
    queue, can open what it sealed."""
    services = compose()["services"]
    assert "INTAKE_PRIVATE_KEY" not in compose()["x-app-environment"]
    having = [name for name in APP_SERVICES
              if "INTAKE_PRIVATE_KEY" in services[name]["environment"]]
    assert having == ["worker"]
    assert "-Q" not in services["worker"]["command"]  # it serves every queue


def test_worker_can_be_scaled():
    worker = compose()["services"]["worker"]
    assert "container_name" not in worker, "a fixed container name stops --scale worker=3"
    assert "ports" not in worker, "a fixed host port stops --scale worker=3"


def test_app_waits_for_the_migrations():
    services = compose()["services"]
    assert services["migrate"]["command"][-2:] == ["db", "upgrade"]
    for name in ("web", "worker"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"


if __name__ == "__main__":
    print(settings_table())
