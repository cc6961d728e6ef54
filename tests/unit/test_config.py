"""Settings: parsing the environment, and refusing to run production on unsafe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import current_app as current_celery

from config import (
    DEV_SECRET_KEY,
    SETTINGS,
    ConfigError,
    check_production,
    load_settings,
    production_notices,
)
from petitions import create_app
from petitions.crypto import generate_intake_keys, generate_key
from petitions.proxies import TrustedProxyFix


def test_defaults_without_any_environment(tmp_path):
    settings = load_settings({}, tmp_path)
    assert settings["APP_ENV"] == "development"
    assert settings["SECRET_KEY"] == DEV_SECRET_KEY
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path / 'petitions.sqlite'}"
    assert settings["CELERY_BROKER_URL"].startswith("filesystem://")
    assert settings["MAIL_OUTBOX_DIR"] == str(tmp_path / "outbox")
    assert settings["MAIL_SERVER"] is None
    assert settings["MAIL_PORT"] == 25
    assert settings["MAIL_USE_TLS"] is False
    assert settings["PII_ENCRYPTION_KEYS"] == []
    assert settings["CONFIRMATION_MAX_AGE_HOURS"] == 168
    assert settings["CONFIRMATION_RESEND_INTERVAL_SECONDS"] == 300
    assert settings["TRUSTED_PROXIES"] == 0
    assert set(settings) >= {s.name for s in SETTINGS}


def test_every_setting_is_documented():
    for setting in SETTINGS:
        assert setting.doc.strip(), setting.name


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("true", True), ("True", True), ("YES", True), (" on ", True),
    ("0", False), ("false", False), ("FALSE", False), ("no", False), ("off", False),
])
def test_booleans(raw, expected):
    settings = load_settings({"MAIL_USE_TLS": raw, "MAIL_USE_SSL": raw}, "instance")
    assert settings["MAIL_USE_TLS"] is expected
    assert settings["MAIL_USE_SSL"] is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "yes please"])
def test_a_bad_boolean_is_refused(raw):
    with pytest.raises(ConfigError, match="boolean"):
        load_settings({"MAIL_USE_TLS": raw}, "instance")


def test_numbers():
    settings = load_settings({"MAIL_PORT": "2525", "MAIL_TIMEOUT": "2.5",
                              "CONFIRMATION_MAX_AGE_HOURS": "48",
                              "CONFIRMATION_RESEND_INTERVAL_SECONDS": "60",
                              "TRUSTED_PROXIES": "1",
                              "OUTBOX_DISPATCH_INTERVAL_SECONDS": "0.5"}, "instance")
    assert settings["MAIL_PORT"] == 2525
    assert settings["MAIL_TIMEOUT"] == 2.5
    assert settings["CONFIRMATION_MAX_AGE_HOURS"] == 48
    assert settings["CONFIRMATION_RESEND_INTERVAL_SECONDS"] == 60
    assert settings["TRUSTED_PROXIES"] == 1
    assert settings["OUTBOX_DISPATCH_INTERVAL_SECONDS"] == 0.5


@pytest.mark.parametrize(("name", "raw"), [
    ("MAIL_PORT", "twenty-five"),
    ("MAIL_PORT", "25.5"),
    ("CONFIRMATION_MAX_AGE_HOURS", "a week"),
    ("CONFIRMATION_RESEND_INTERVAL_SECONDS", "5m"),
    ("TRUSTED_PROXIES", "yes"),
    ("MAIL_TIMEOUT", "ten"),
])
def test_a_bad_number_is_refused_naming_the_setting(name, raw):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: raw}, "instance")


def test_an_empty_variable_means_the_default():
    settings = load_settings({"MAIL_PORT": "", "APP_ENV": "", "MAIL_USE_TLS": ""}, "instance")
    assert settings["MAIL_PORT"] == 25
    assert settings["APP_ENV"] == "development"
    assert settings["MAIL_USE_TLS"] is False


@pytest.mark.parametrize(("raw", "expected"), [
    ("postgres://u:p@db:5432/petitions", "postgresql+psycopg://u:p@db:5432/petitions"),
    ("postgresql://u@db/petitions", "postgresql+psycopg://u@db/petitions"),
    ("postgresql+psycopg://u@db/petitions", "postgresql+psycopg://u@db/petitions"),
    ("sqlite:////var/lib/petitions.sqlite", "sqlite:////var/lib/petitions.sqlite"),
])
def test_database_url(raw, expected):
    assert load_settings({"DATABASE_URL": raw}, "instance")["DATABASE_URL"] == expected


def test_lists_and_urls():
    settings = load_settings({"PII_ENCRYPTION_KEYS": " key-a, key-b,,key-c ,",
                              "BASE_URL": "https://act.example.org/",
                              "REDIS_URL": "redis://cache:6379/0"}, "instance")
    assert settings["PII_ENCRYPTION_KEYS"] == ["key-a", "key-b", "key-c"]
    assert settings["BASE_URL"] == "https://act.example.org"
    assert settings["CELERY_BROKER_URL"] == "redis://cache:6379/0"


def test_an_explicit_broker_wins_over_redis_url():
    settings = load_settings({"REDIS_URL": "redis://cache:6379/0",
                              "CELERY_BROKER_URL": "redis://broker:6379/1"}, "instance")
    assert settings["CELERY_BROKER_URL"] == "redis://broker:6379/1"


def test_overrides_win_over_the_environment():
    settings = load_settings({"MAIL_PORT": "25", "APP_ENV": "production"}, "instance",
                             overrides={"MAIL_PORT": 2525, "APP_ENV": "testing"})
    assert settings["MAIL_PORT"] == 2525
    assert settings["APP_ENV"] == "testing"


@pytest.mark.parametrize("env", ["staging", "prod", "Production"])
def test_an_unknown_environment_is_refused(env):
    with pytest.raises(ConfigError, match="APP_ENV"):
        load_settings({"APP_ENV": env}, "instance")


# --- production --------------------------------------------------------------------------

def production_config(**changes: object) -> dict[str, object]:
    """A config that check_production accepts; ``changes`` makes it unsafe one way."""
    config: dict[str, object] = {
        "SECRET_KEY": "s" * 48,
        "PII_ENCRYPTION_KEYS": ["a-key"],
        "PII_INDEX_KEY": "an-index-key",
        "INTAKE_PUBLIC_KEY": "a-public-key",
        "MAIL_SERVER": "smtp.example.org",
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://petitions@db/petitions",
        "CELERY": {"broker_url": "redis://redis:6379/0"},
        "BASE_URL": "https://act.example.org",
        "MAIL_USE_TLS": True,
    }
    config.update(changes)
    return config


def test_a_safe_production_config_passes():
    check_production(production_config())


@pytest.mark.parametrize(("changes", "message"), [
    ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY"),
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"SECRET_KEY": None}, "SECRET_KEY"),
    ({"SECRET_KEY": "short-but-not-default"}, "SECRET_KEY"),
    ({"PII_ENCRYPTION_KEYS": []}, "PII_ENCRYPTION_KEYS"),
    ({"PII_INDEX_KEY": None}, "PII_INDEX_KEY"),
    ({"PII_INDEX_KEY": ""}, "PII_INDEX_KEY"),
    ({"INTAKE_PUBLIC_KEY": None}, "INTAKE_PUBLIC_KEY"),
    ({"MAIL_SERVER": None}, "MAIL_SERVER"),
    ({"SQLALCHEMY_DATABASE_URI": "sqlite:///instance/petitions.sqlite"}, "DATABASE_URL"),
    ({"CELERY": {"broker_url": "filesystem://"}}, "CELERY_BROKER_URL"),
    ({"BASE_URL": "http://127.0.0.1:5000"}, "BASE_URL"),
    ({"BASE_URL": "http://localhost:5000"}, "BASE_URL"),
    ({"MAIL_USE_TLS": False}, "MAIL_USE_TLS or MAIL_USE_SSL"),
    ({"MAIL_USE_TLS": False, "MAIL_SERVER": "10.0.0.25"}, "MAIL_USE_TLS or MAIL_USE_SSL"),
    ({"TRUSTED_PROXIES": 1, "TRUSTED_PROXY_ADDRESSES": []}, "TRUSTED_PROXY_ADDRESSES"),
    ({"TRUSTED_PROXIES": 1, "TRUSTED_PROXY_ADDRESSES": ["10.0.0.2", "0.0.0.0/0"]},
     "TRUSTED_PROXY_ADDRESSES"),
    ({"TRUSTED_PROXIES": 2, "TRUSTED_PROXY_ADDRESSES": ["::/0"]}, "TRUSTED_PROXY_ADDRESSES"),
])
def test_production_refuses_unsafe_settings(changes, message):
    with pytest.raises(ConfigError, match=message):
        check_production(production_config(**changes))


@pytest.mark.parametrize("changes", [
    {"MAIL_USE_TLS": False, "MAIL_USE_SSL": True},
    {"MAIL_USE_TLS": False, "MAIL_ALLOW_PLAINTEXT": True},
    # A relay on this machine: nothing crosses a network in clear.
    {"MAIL_USE_TLS": False, "MAIL_SERVER": "127.0.0.1"},
    {"MAIL_USE_TLS": False, "MAIL_SERVER": "localhost"},
    {"MAIL_USE_TLS": False, "MAIL_SERVER": "::1"},
    {"TRUSTED_PROXIES": 1, "TRUSTED_PROXY_ADDRESSES": ["127.0.0.1", "::1"]},
    {"TRUSTED_PROXIES": 1, "TRUSTED_PROXY_ADDRESSES": ["10.0.0.0/8"]},
])
def test_production_takes_mail_over_tls_or_allowed_and_named_proxies(changes):
    check_production(production_config(**changes))


def test_production_says_at_startup_where_forwarding_headers_are_taken_from():
    [notice] = production_notices(production_config(TRUSTED_PROXIES=1,
                                                    TRUSTED_PROXY_ADDRESSES=["10.0.0.2"]))
    assert "10.0.0.2" in notice and "port" in notice
    [notice] = production_notices(production_config(TRUSTED_PROXIES=0))
    assert "TRUSTED_PROXIES" in notice


def test_trusted_proxy_addresses_are_read_and_checked():
    assert load_settings({}, "instance")["TRUSTED_PROXY_ADDRESSES"] == ["127.0.0.1", "::1"]
    settings = load_settings({"TRUSTED_PROXY_ADDRESSES": "10.0.0.0/8, fd00::/8,192.0.2.4"},
                             "instance")
    assert settings["TRUSTED_PROXY_ADDRESSES"] == ["10.0.0.0/8", "fd00::/8", "192.0.2.4"]
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_ADDRESSES"):
        load_settings({"TRUSTED_PROXY_ADDRESSES": "proxy.internal"}, "instance")


def test_create_app_takes_forwarding_headers_from_the_trusted_proxies_only(tmp_path):
    previous = current_celery._get_current_object()
    try:
        app = create_app({"APP_ENV": "testing", "TRUSTED_PROXIES": 1,
                          "TRUSTED_PROXY_ADDRESSES": ["10.0.0.2"],
                          "INSTANCE_PATH": str(tmp_path / "instance")})
    finally:  # leave Celery's current app as the rest of the suite has it
        previous.set_current()
        previous.set_default()
    assert isinstance(app.wsgi_app, TrustedProxyFix)
    assert app.wsgi_app.is_trusted("10.0.0.2") and not app.wsgi_app.is_trusted("10.0.0.3")
    app.extensions["celery"].close()


def test_production_startup_logs_that_the_app_port_must_not_be_public(clean_environment,
                                                                       tmp_path, caplog):
    previous = current_celery._get_current_object()
    try:
        app = create_app({**production_config(), "APP_ENV": "production",
                          "PII_ENCRYPTION_KEYS": [generate_key()],
                          "PII_INDEX_KEY": generate_key(),
                          "INTAKE_PUBLIC_KEY": generate_intake_keys()[0],
                          "DATABASE_URL": "postgresql://petitions@127.0.0.1:1/petitions",
                          "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
                          "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/1",
                          "TRUSTED_PROXIES": 1, "TRUSTED_PROXY_ADDRESSES": ["10.0.0.2"],
                          "INSTANCE_PATH": str(tmp_path / "instance")})
    finally:  # leave Celery's current app as the rest of the suite has it
        previous.set_current()
        previous.set_default()
    app.extensions["celery"].close()
    assert any("10.0.0.2" in record.getMessage() and "port" in record.getMessage()
               for record in caplog.records if record.levelname == "WARNING")


def test_production_lists_every_problem_at_once():
    with pytest.raises(ConfigError) as caught:
        check_production(production_config(SECRET_KEY=DEV_SECRET_KEY, PII_INDEX_KEY=None,
                                           MAIL_SERVER=None))
    message = str(caught.value)
    assert "SECRET_KEY" in message and "PII_INDEX_KEY" in message
    assert "MAIL_SERVER" in message


@pytest.fixture
def clean_environment(monkeypatch):
    """No setting leaks in from the shell that runs the tests."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.delenv("INSTANCE_PATH", raising=False)


def test_create_app_refuses_production_on_the_defaults(clean_environment, tmp_path):
    instance = tmp_path / "instance"
    with pytest.raises(ConfigError) as caught:
        create_app({"APP_ENV": "production", "INSTANCE_PATH": str(instance)})
    message = str(caught.value)
    assert "SECRET_KEY" in message
    assert "PII_ENCRYPTION_KEYS" in message
    # Production never makes up encryption keys of its own.
    assert not (Path(instance) / "pii-keys.json").exists()


def test_create_app_refuses_production_without_encryption_keys(clean_environment, tmp_path,
                                                               monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 64)
    monkeypatch.setenv("DATABASE_URL", "postgres://petitions@db/petitions")
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("BASE_URL", "https://act.example.org")
    with pytest.raises(ConfigError) as caught:
        create_app({"INSTANCE_PATH": str(tmp_path / "instance")})
    message = str(caught.value)
    assert "PII_ENCRYPTION_KEYS" in message
    assert "SECRET_KEY" not in message
    assert "DATABASE_URL" not in message
