"""Settings: the one place where the environment is read.

``load_settings(environ, instance_path)`` turns environment variables into the
Flask config mapping. Every variable, its default and its meaning is listed in
``SETTINGS`` below and in the README's configuration table. Nothing here runs at
import time: ``petitions.create_app`` calls ``load_settings`` when it builds an app.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEV_SECRET_KEY = "dev-only-insecure-secret-key"
ENVIRONMENTS = ("development", "testing", "production")


class ConfigError(RuntimeError):
    """Raised when the settings are unsafe or inconsistent for the chosen environment."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _networks(value: str) -> list[str]:
    """Comma-separated IP addresses or networks (``10.0.0.0/8``), each one checked."""
    items = _list(value)
    for item in items:
        ipaddress.ip_network(item, strict=False)  # its ValueError names the bad item
    return items


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    default: Any
    doc: str


def _database_url(value: str) -> str:
    """Accept the usual ``postgres://`` and ``postgresql://`` forms and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix):]
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("APP_ENV", str, "development",
            "`development`, `testing` or `production`. Production refuses unsafe defaults."),
    Setting("SECRET_KEY", str, DEV_SECRET_KEY,
            "Signs sessions and CSRF tokens. Must be set in production."),
    Setting("STAFF_SESSION_IDLE_MINUTES", int, 30,
            "A console session unused for this long is logged out."),
    Setting("STAFF_SESSION_MAX_HOURS", int, 12,
            "A console session ends this long after its login, however busy."),
    Setting("DATABASE_URL", _database_url, None,
            "SQLAlchemy URL. Default: SQLite file `instance/petitions.sqlite`."),
    Setting("DATABASE_PING_AFTER_IDLE_SECONDS", float, 10.0,
            "A pooled PostgreSQL connection idle this long is checked before use (and "
            "replaced if it died, e.g. in a database restart). 0 checks every use."),
    Setting("CELERY_BROKER_URL", str, None,
            "Celery broker. Default: kombu's filesystem transport under `instance/broker/` "
            "(no server needed). Production: `redis://…`."),
    Setting("REDIS_URL", str, None,
            "Redis for shared state (rate limits, caches); the broker default when set."),
    Setting("BASE_URL", str, "http://127.0.0.1:5000",
            "Public address used to build links in emails. Must be set in production."),
    Setting("MAIL_SERVER", str, None,
            "SMTP host. Unset: mail is written to `MAIL_OUTBOX_DIR` and the link is logged."),
    Setting("MAIL_PORT", int, 25, "SMTP port."),
    Setting("MAIL_USERNAME", str, None, "SMTP user name, if the server wants one."),
    Setting("MAIL_PASSWORD", str, None, "SMTP password."),
    Setting("MAIL_USE_TLS", _bool, False, "STARTTLS after connecting."),
    Setting("MAIL_USE_SSL", _bool, False, "Implicit TLS (SMTPS, usually port 465)."),
    Setting("MAIL_ALLOW_PLAINTEXT", _bool, False,
            "Production: allow an SMTP server on another machine without `MAIL_USE_TLS` or "
            "`MAIL_USE_SSL` (a relay on this machine needs no TLS)."),
    Setting("MAIL_TIMEOUT", float, 10.0, "Seconds before an SMTP connection attempt gives up."),
    Setting("MAIL_CONNECTION_IDLE_SECONDS", float, 30.0,
            "Each worker process keeps its SMTP connection open between emails; one unused "
            "for longer is closed rather than reused. 0: a new connection for every email."),
    Setting("MAIL_DEFAULT_SENDER", str, "Urgent Actions <actions@localhost>",
            "The From address of every message."),
    Setting("MAIL_OUTBOX_DIR", str, None,
            "Folder for mail when no SMTP server is set. Default: `instance/outbox/`."),
    Setting("MAIL_RETRY_MAX", int, 10,
            "How many times a temporary mail failure is retried (exponential backoff)."),
    Setting("MAIL_RETRY_BACKOFF_MAX", int, 600, "Longest wait between two mail retries, seconds."),
    Setting("PII_ENCRYPTION_KEYS", _list, [],
            "Comma-separated AES-256 keys (base64url); the first encrypts, all decrypt. "
            "Development generates `instance/pii-keys.json`; production requires them."),
    Setting("PII_INDEX_KEY", str, None,
            "Key (base64url) of the HMAC digests used to find an address without decrypting."),
    Setting("INTAKE_PUBLIC_KEY", str, None,
            "Public key (base64) the web tier seals every signature to (a libsodium "
            "sealed box). Development generates `instance/intake-keys.json`; production "
            "requires it."),
    Setting("INTAKE_PRIVATE_KEY", str, None,
            "Private key (base64) that opens sealed signatures: for the vault workers only, "
            "never for the web tier. Development generates it with the public key."),
    Setting("INTAKE_REDISPATCH_AFTER_SECONDS", int, 60,
            "A sealed signature still unopened this long after its hand-off to the broker "
            "is handed to a vault worker again."),
    Setting("CONFIRMATION_MAX_AGE_HOURS", int, 168,
            "How long a confirmation link stays valid."),
    Setting("CONFIRMATION_RESEND_INTERVAL_SECONDS", int, 300,
            "Signing again while pending re-sends the confirmation at most this often."),
    Setting("UNCONFIRMED_RETENTION_DAYS", int, 30,
            "Signatures never confirmed are deleted after this many days."),
    Setting("IP_DIGEST_RETENTION_DAYS", int, 30,
            "Keyed digests of signers' IP addresses are erased after this many days."),
    Setting("OUTBOX_REDISPATCH_AFTER_SECONDS", int, 900,
            "Mail still unsent this long after its hand-off to the broker is handed off again."),
    Setting("OUTBOX_DISPATCH_INTERVAL_SECONDS", float, 10.0,
            "How often the scheduler hands unsent mail to the broker."),
    Setting("PUBLIC_CACHE_SECONDS", float, 5.0,
            "Each web process reuses a rendered public page (action page, widget, list of "
            "actions) and a public count for this long; only the CSRF token and bot checks "
            "are filled in per visitor. 0 turns the cache off."),
    Setting("TALLY_INTERVAL_SECONDS", float, 5.0,
            "How often the scheduler recompiles the tallies (by country, by day) that moved."),
    Setting("REMINDER_AFTER_HOURS", int, 48,
            "A signer who has not confirmed is reminded this long after signing (and after "
            "each reminder)."),
    Setting("REMINDER_MAX", int, 2, "At most this many reminders per pending signature."),
    Setting("UPDATE_BATCH_SIZE", int, 500,
            "Updates and alerts are queued this many recipients at a time."),
    Setting("UPDATE_RATE_PER_MINUTE", int, 600,
            "Updates and alerts go out at most this many emails a minute."),
    Setting("LOGIN_FREE_FAILURES", int, 5,
            "Failed logins for one account from one client (IP address) before each further "
            "attempt from there has to wait, twice as long each time. Other clients, such as "
            "the owner's, are not slowed."),
    Setting("LOGIN_MAX_DELAY_SECONDS", int, 900,
            "The longest wait between login attempts for one account from one client."),
    Setting("LOGIN_ALERT_FAILURES", int, 10,
            "Failed logins for an account within an hour after which its owner is emailed "
            "(at most once a day)."),
    Setting("API_TOKEN_DAYS", int, 90, "How long a new API token is valid unless told."),
    Setting("TRUSTED_PROXIES", int, 0,
            "How many reverse proxies in front of the app set X-Forwarded-For (0: none)."),
    Setting("TRUSTED_PROXY_ADDRESSES", _networks, ["127.0.0.1", "::1"],
            "With `TRUSTED_PROXIES` above 0: addresses or networks (e.g. `10.0.0.0/8`) of "
            "the proxy that connects to the app. Forwarding headers from anyone else are "
            "ignored."),
    Setting("RATELIMIT_ENABLED", _bool, True,
            "Rate limits on signing, joining the network, resending, logging in and the API "
            "(Flask-Limiter)."),
    Setting("RATELIMIT_STORAGE_URI", str, None,
            "Where the rate-limit counters live. Default: `REDIS_URL` when set, else "
            "`memory://` (one process only; production refuses it)."),
    Setting("RATELIMIT_HEADERS_ENABLED", _bool, True,
            "Send `X-RateLimit-*` headers; a limited request always gets `Retry-After`."),
    Setting("SIGN_RATE_LIMIT", str, "300 per hour",
            "Signatures per IP address and action (a school or a camp may share one address)."),
    Setting("RESEND_RATE_LIMIT", str, "5 per hour",
            "Requests for a new confirmation link per email address."),
    Setting("SIGN_EMAIL_RATE_LIMIT", str, "20 per hour",
            "Signatures per email address, across actions and IP addresses, counted by the "
            "vault worker that opens them: beyond it a signature is dropped silently (the "
            "signer saw the same check-your-email page as anyone)."),
    Setting("NETWORK_RATE_LIMIT", str, "30 per hour",
            "Requests to join the urgent-action network per IP address."),
    Setting("NETWORK_EMAIL_RATE_LIMIT", str, "5 per hour",
            "Requests to join the urgent-action network per email address."),
    Setting("LOGIN_RATE_LIMIT", str, "30 per 10 minutes", "Login attempts per IP address."),
    Setting("API_RATE_LIMIT", str, "600 per minute", "API requests per token (or IP address)."),
    Setting("BOT_CHECKS_ENABLED", _bool, True,
            "Honeypot field, single-use form stamp with a minimum fill time, and proof of "
            "work on the signing and network forms."),
    Setting("BOT_MIN_FILL_SECONDS", float, 3.0,
            "A form sent sooner than this after it was shown is shown again, to be sent again "
            "(unless its proof of work is solved after a second of typing)."),
    Setting("BOT_STAMP_MAX_AGE_SECONDS", int, 7200,
            "A form sent later than this after it was shown is shown again, to be sent again."),
    Setting("NETWORK_PROOF_OF_WORK", _bool, True,
            "Proof of work on the form that joins the urgent-action network."),
    Setting("POW_MAX_NUMBER", int, 50000,
            "Proof of work: the largest number the browser may have to try."),
    Setting("EMBED_FRAME_ANCESTORS", str, "*",
            "Sites allowed to frame the embed widget (CSP `frame-ancestors` sources)."),
    Setting("RETENTION_DAYS_AFTER_CLOSE", int, 365,
            "Signers' personal data is anonymized this long after an action closes, "
            "unless the action keeps its data."),
    Setting("DELIVERY_FILE_RETENTION_DAYS", int, 90,
            "The PDF letters and CSV files of a delivery are deleted this long after it "
            "was compiled; the delivery record stays."),
    Setting("ABUSE_REPORT_THRESHOLD", int, 50,
            "The hourly abuse report lists networks and email domains with at least this "
            "many signatures in the hour."),
    Setting("BLOCK_RULES_CACHE_SECONDS", float, 5.0,
            "Each process keeps the block rules in memory this long; a rule added or "
            "removed applies at once in the process that changed it, elsewhere within "
            "this time. 0 reads them for every signature."),
    Setting("LOG_LEVEL", str, "INFO", "Python logging level."),
    # Read by gunicorn (config/gunicorn.py), not by the app.
    Setting("WEB_CONCURRENCY", int, 0,
            "gunicorn: web processes; 0 means two per CPU core."),
    Setting("WEB_THREADS", int, 4,
            "gunicorn: threads per web process. Requests spend much of their time waiting "
            "on PostgreSQL and Redis, which threads fill."),
    Setting("WEB_TIMEOUT", int, 30,
            "gunicorn: a web process silent for this many seconds is restarted. A long "
            "answer (an export streaming a million rows) is not cut off by it."),
)


def setting(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting, parsed, from ``environ`` (default ``os.environ``) or its default:
    for programs that read a few settings without building the app (gunicorn)."""
    declared = next(s for s in SETTINGS if s.name == name)
    return _read(declared, os.environ if environ is None else environ)


def _read(declared: Setting, environ: Mapping[str, str]) -> Any:
    raw = environ.get(declared.name)
    if raw is None or raw == "":
        return declared.default
    try:
        return declared.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{declared.name}: {exc}") from exc


def web_processes(environ: Mapping[str, str] | None = None) -> int:
    """gunicorn's processes: ``WEB_CONCURRENCY``, or two per CPU core."""
    return setting("WEB_CONCURRENCY", environ) or 2 * (os.cpu_count() or 1)


def load_settings(environ: Mapping[str, str] | None = None,
                  instance_path: str | os.PathLike[str] = "instance",
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read every setting from ``environ`` (default ``os.environ``), apply ``overrides``
    (already parsed values, as tests pass them), then fill in the derived defaults."""
    environ = os.environ if environ is None else environ
    instance = Path(instance_path)
    values: dict[str, Any] = {}
    for declared in SETTINGS:
        values[declared.name] = _read(declared, environ)
    values.update(overrides or {})

    if values["APP_ENV"] not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}")
    if values["DATABASE_URL"] is None:
        values["DATABASE_URL"] = f"sqlite:///{instance / 'petitions.sqlite'}"
    if values["CELERY_BROKER_URL"] is None:
        values["CELERY_BROKER_URL"] = values["REDIS_URL"] or "filesystem://localhost//"
    if values["MAIL_OUTBOX_DIR"] is None:
        values["MAIL_OUTBOX_DIR"] = str(instance / "outbox")
    if values["RATELIMIT_STORAGE_URI"] is None:
        values["RATELIMIT_STORAGE_URI"] = values["REDIS_URL"] or "memory://"
    values["BASE_URL"] = values["BASE_URL"].rstrip("/")
    return values


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to run production on the development defaults."""
    problems = []
    if config["SECRET_KEY"] in (None, "", DEV_SECRET_KEY) or len(config["SECRET_KEY"]) < 32:
        problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
    if not config["PII_ENCRYPTION_KEYS"] or not config["PII_INDEX_KEY"]:
        problems.append("PII_ENCRYPTION_KEYS and PII_INDEX_KEY must be set "
                        "(see docs/privacy.md, \"Generating keys\")")
    if not config["INTAKE_PUBLIC_KEY"]:
        problems.append("INTAKE_PUBLIC_KEY must be set (flask --app petitions keys generate)")
    if not config["MAIL_SERVER"]:
        problems.append("MAIL_SERVER must be set: production does not write mail to files")
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        problems.append("DATABASE_URL must point at PostgreSQL")
    if not config["CELERY"]["broker_url"].startswith(("redis://", "rediss://")):
        problems.append("CELERY_BROKER_URL (or REDIS_URL) must point at Redis")
    if not config["BASE_URL"].startswith("https://"):
        problems.append("BASE_URL must be the public https:// address of the site")
    storage = config.get("RATELIMIT_STORAGE_URI")
    if ((config.get("RATELIMIT_ENABLED") or config.get("BOT_CHECKS_ENABLED"))
            and storage and storage.startswith("memory")):
        # Each gunicorn worker would count on its own: the limits would be multiplied,
        # and a used bot-check stamp or puzzle could be sent again to another worker.
        problems.append("RATELIMIT_STORAGE_URI (or REDIS_URL) must point at Redis")
    if config.get("MAIL_USE_TLS") and config.get("MAIL_USE_SSL"):
        problems.append("MAIL_USE_TLS and MAIL_USE_SSL exclude each other: choose one")
    if (config["MAIL_SERVER"] and not config.get("MAIL_USE_TLS")
            and not config.get("MAIL_USE_SSL") and not config.get("MAIL_ALLOW_PLAINTEXT")
            and not _is_loopback(config["MAIL_SERVER"])):
        # Every confirmation link and every signer's address would cross the network
        # in clear.
        problems.append("MAIL_SERVER is on another machine: set MAIL_USE_TLS or MAIL_USE_SSL "
                        "(or MAIL_ALLOW_PLAINTEXT=true for a relay on a network you trust)")
    if config.get("TRUSTED_PROXIES"):
        networks = [ipaddress.ip_network(item, strict=False)
                    for item in config.get("TRUSTED_PROXY_ADDRESSES") or []]
        if not networks:
            problems.append("TRUSTED_PROXY_ADDRESSES must name the reverse proxy's address "
                            "when TRUSTED_PROXIES is above 0")
        if any(network.prefixlen == 0 for network in networks):
            problems.append("TRUSTED_PROXY_ADDRESSES must not take in every address: anyone "
                            "could then choose the address they sign from")
    if problems:
        raise ConfigError("refusing to start in production: " + "; ".join(problems))


def production_notices(config: Mapping[str, Any]) -> list[str]:
    """What production logs at startup about its deployment: things the app can't check
    from inside, and that must hold for its rate limits and IP digests to mean anything."""
    if not config.get("TRUSTED_PROXIES"):
        return ["TRUSTED_PROXIES is 0: the address of whatever connects to the app is taken "
                "as the client's. Behind a reverse proxy every signer would share its "
                "address; set TRUSTED_PROXIES (docs/configuration.md)."]
    return ["Forwarding headers are taken only from TRUSTED_PROXY_ADDRESSES ("
            + ", ".join(config.get("TRUSTED_PROXY_ADDRESSES") or []) + "). The app's port "
            "must be reachable from the reverse proxy only, never from the internet "
            "(docs/deployment.md)."]


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: mail to it does not cross a network."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
