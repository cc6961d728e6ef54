"""The vault: authenticated encryption of personal data, keyed digests, and the keys."""

from __future__ import annotations

import base64
import logging
import multiprocessing
import os
import stat
import threading
from pathlib import Path

import pytest
from flask import Flask

from config import ConfigError
from petitions import create_app
from petitions.crypto import (
    FORMAT_VERSION,
    HEADER_LENGTH,
    KEY_ID_LENGTH,
    PIIVault,
    VaultError,
    generate_intake_keys,
    generate_key,
    init_vault,
    key_id,
)

CONTEXT = "signatures.first_name"


def new_vault(*keys: str, index_key: str | None = None) -> PIIVault:
    return PIIVault(list(keys) or [generate_key()], index_key or generate_key())


# --- encryption -------------------------------------------------------------------------

@pytest.mark.parametrize("plaintext", ["Leila", "", "Zoë Ñandú-Øster 李小龍 🙂", "x" * 5000])
def test_round_trip(plaintext):
    pii = new_vault()
    assert pii.decrypt(pii.encrypt(plaintext, CONTEXT), CONTEXT) == plaintext


def test_blob_layout_and_fresh_nonces():
    key = generate_key()
    pii = new_vault(key)
    first, second = pii.encrypt("Leila", CONTEXT), pii.encrypt("Leila", CONTEXT)
    assert first[:1] == FORMAT_VERSION
    assert first[1:1 + KEY_ID_LENGTH] == pii.current_key_id
    assert pii.current_key_id == key_id(base64.urlsafe_b64decode(key + "="))
    assert len(first) == HEADER_LENGTH + len("Leila") + 16  # 16: the GCM tag
    # A random nonce each time: equal names don't give equal ciphertexts.
    assert first[1 + KEY_ID_LENGTH:HEADER_LENGTH] != second[1 + KEY_ID_LENGTH:HEADER_LENGTH]
    assert first != second
    assert b"Leila" not in first


def test_a_value_copied_into_another_column_does_not_decrypt():
    pii = new_vault()
    blob = pii.encrypt("leila@example.org", "signatures.email")
    with pytest.raises(VaultError):
        pii.decrypt(blob, "signatures.first_name")


@pytest.mark.parametrize("position", [
    pytest.param(1 + KEY_ID_LENGTH, id="nonce"),
    pytest.param(HEADER_LENGTH, id="ciphertext"),
    pytest.param(-1, id="tag"),
])
def test_tampered_ciphertext_fails(position):
    pii = new_vault()
    blob = bytearray(pii.encrypt("Leila", CONTEXT))
    blob[position] ^= 0x01
    with pytest.raises(VaultError):
        pii.decrypt(bytes(blob), CONTEXT)


@pytest.mark.parametrize("blob", [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x01abc", id="shorter-than-header"),
    pytest.param(b"Leila Tester", id="plain-text"),
])
def test_values_not_made_by_the_vault_fail(blob):
    with pytest.raises(VaultError):
        new_vault().decrypt(blob, CONTEXT)


def test_other_format_version_fails():
    pii = new_vault()
    blob = b"\x02" + pii.encrypt("Leila", CONTEXT)[1:]
    with pytest.raises(VaultError):
        pii.decrypt(blob, CONTEXT)


def test_truncated_ciphertext_fails():
    pii = new_vault()
    with pytest.raises(VaultError):
        pii.decrypt(pii.encrypt("Leila", CONTEXT)[:-3], CONTEXT)


def test_unknown_key_fails():
    blob = new_vault().encrypt("Leila", CONTEXT)
    with pytest.raises(VaultError, match="not configured"):
        new_vault().decrypt(blob, CONTEXT)


def test_a_changed_key_id_fails_even_if_it_names_another_configured_key():
    old, new = generate_key(), generate_key()
    pii = new_vault(new, old)
    blob = bytearray(new_vault(old).encrypt("Leila", CONTEXT))
    blob[1:1 + KEY_ID_LENGTH] = pii.current_key_id  # now claims to be under the new key
    with pytest.raises(VaultError):
        pii.decrypt(bytes(blob), CONTEXT)


def test_old_keys_decrypt_and_the_first_key_encrypts():
    old, new = generate_key(), generate_key()
    before = new_vault(old)
    stored = before.encrypt("Leila", CONTEXT)

    after = new_vault(new, old)
    assert after.decrypt(stored, CONTEXT) == "Leila"
    assert not after.is_current(stored)
    fresh = after.encrypt("Leila", CONTEXT)
    assert after.is_current(fresh)
    assert fresh[1:1 + KEY_ID_LENGTH] != stored[1:1 + KEY_ID_LENGTH]
    # Once the old key is dropped, only what was re-encrypted can be read.
    with pytest.raises(VaultError):
        new_vault(new).decrypt(stored, CONTEXT)
    assert new_vault(new).decrypt(fresh, CONTEXT) == "Leila"


@pytest.mark.parametrize("keys", [
    pytest.param([], id="no-key"),
    pytest.param(["c2hvcnQ"], id="too-short"),
    pytest.param(["not base64 at all!"], id="not-base64"),
])
def test_bad_keys_are_refused(keys):
    with pytest.raises(VaultError):
        PIIVault(keys, generate_key())


def test_bad_index_key_is_refused():
    with pytest.raises(VaultError):
        PIIVault([generate_key()], "")


def test_generated_keys_are_distinct_256_bit_keys():
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        PIIVault([key], key)  # decodes as exactly 32 bytes
        assert "=" not in key and "," not in key  # fits a comma-separated env value


# --- digests ----------------------------------------------------------------------------

def test_digest_is_deterministic_and_does_not_show_the_value():
    index_key = generate_key()
    pii = new_vault(index_key=index_key)
    digest = pii.digest("leila@example.org", "email")
    assert digest == new_vault(index_key=index_key).digest("leila@example.org", "email")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert "leila" not in digest


def test_digest_is_keyed():
    value = "leila@example.org"
    assert new_vault().digest(value, "email") != new_vault().digest(value, "email")


def test_digest_does_not_depend_on_the_encryption_keys():
    """Rotating the encryption keys must not change a digest, or duplicates slip through."""
    index_key = generate_key()
    assert (new_vault(generate_key(), index_key=index_key).digest("a@b.org", "email")
            == new_vault(generate_key(), index_key=index_key).digest("a@b.org", "email"))


def test_digest_purposes_are_separated():
    pii = new_vault()
    assert pii.digest("203.0.113.9", "email") != pii.digest("203.0.113.9", "ip")
    # The separator keeps (purpose, value) pairs from running into each other.
    assert pii.digest("b", "emaila") != pii.digest("ab", "email")


# --- the keys of an application ---------------------------------------------------------

INTAKE_PUBLIC, INTAKE_PRIVATE = generate_intake_keys()


def bare_app(instance: Path) -> Flask:
    """An app with no PII keys set (the intake key pair is set: these tests are about
    the PII keys' file; tests/unit/test_intake.py has the intake pair's)."""
    app = Flask("keys-test", instance_path=str(instance))
    app.config.update(PII_ENCRYPTION_KEYS=[], PII_INDEX_KEY=None,
                      INTAKE_PUBLIC_KEY=INTAKE_PUBLIC, INTAKE_PRIVATE_KEY=INTAKE_PRIVATE)
    return app


def test_configured_keys_are_used_and_no_file_is_written(tmp_path):
    key, index_key = generate_key(), generate_key()
    app = bare_app(tmp_path / "instance")
    app.config.update(PII_ENCRYPTION_KEYS=[key], PII_INDEX_KEY=index_key)
    init_vault(app)
    blob = app.extensions["pii"].encrypt("Leila", CONTEXT)
    assert new_vault(key).decrypt(blob, CONTEXT) == "Leila"
    assert not (tmp_path / "instance").exists()


def test_development_keys_are_created_once_private_and_reused(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="petitions.crypto")
    instance = tmp_path / "instance"
    first = bare_app(instance)
    init_vault(first)

    key_file = instance / "pii-keys.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    warnings = [r for r in caplog.records if r.name == "petitions.crypto"]
    assert len(warnings) == 1
    assert "Back this file up" in warnings[0].getMessage()
    assert str(key_file) in warnings[0].getMessage()
    stored = key_file.read_bytes()
    blob = first.extensions["pii"].encrypt("Leila", CONTEXT)

    caplog.clear()
    second = bare_app(instance)
    init_vault(second)
    assert key_file.read_bytes() == stored
    assert second.extensions["pii"].decrypt(blob, CONTEXT) == "Leila"
    assert (second.extensions["pii"].digest("a@b.org", "email")
            == first.extensions["pii"].digest("a@b.org", "email"))
    assert not [r for r in caplog.records if r.name == "petitions.crypto"]
    assert sorted(p.name for p in instance.iterdir()) == ["pii-keys.json"]


def _keys_seen(vault: PIIVault) -> tuple[str, str]:
    return vault.current_key_id.hex(), vault.digest("probe", "email")


def test_development_keys_concurrent_threads_agree(tmp_path):
    instance = tmp_path / "instance"
    start = threading.Barrier(8)
    seen: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def start_app() -> None:
        app = bare_app(instance)
        start.wait(timeout=60)
        try:
            init_vault(app)
            seen.append(_keys_seen(app.extensions["pii"]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start_app) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(seen) == 8 and len(set(seen)) == 1
    assert sorted(p.name for p in instance.iterdir()) == ["pii-keys.json"]
    assert _keys_seen(_reload(instance)) == seen[0]


def _reload(instance: Path) -> PIIVault:
    app = bare_app(instance)
    init_vault(app)
    return app.extensions["pii"]


def _start_in_process(instance: str, start: threading.Barrier, results: object) -> None:
    """Run in a child process: what the web app, the worker and the scheduler do."""
    app = bare_app(Path(instance))
    start.wait(timeout=60)
    init_vault(app)
    results.put(_keys_seen(app.extensions["pii"]))  # type: ignore[attr-defined]


def test_development_keys_concurrent_processes_agree(tmp_path):
    """The web app, the worker and the scheduler start together: one set of keys wins."""
    instance = tmp_path / "instance"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(3)
    results = context.Queue()
    processes = [context.Process(target=_start_in_process, args=(str(instance), start, results))
                 for _ in range(3)]
    for process in processes:
        process.start()
    seen = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join()
        assert process.exitcode == 0
    assert len(set(seen)) == 1
    assert sorted(p.name for p in instance.iterdir()) == ["pii-keys.json"]
    assert stat.S_IMODE((instance / "pii-keys.json").stat().st_mode) == 0o600
    assert _keys_seen(_reload(instance)) == seen[0]


@pytest.mark.parametrize("missing", ["PII_ENCRYPTION_KEYS", "PII_INDEX_KEY"])
def test_production_refuses_to_start_without_keys(tmp_path, missing):
    config = {
        "APP_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "DATABASE_URL": "postgresql://db.internal/petitions",
        "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
        "MAIL_SERVER": "smtp.internal",
        "BASE_URL": "https://actions.example.org",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "PII_ENCRYPTION_KEYS": [generate_key()],
        "PII_INDEX_KEY": generate_key(),
        "INTAKE_PUBLIC_KEY": generate_intake_keys()[0],
    }
    config[missing] = [] if missing == "PII_ENCRYPTION_KEYS" else None
    with pytest.raises(ConfigError, match="PII_ENCRYPTION_KEYS and PII_INDEX_KEY"):
        create_app(config)
    # Nothing was generated to stand in for the missing keys.
    assert not (tmp_path / "instance" / "pii-keys.json").exists()


def test_key_file_is_not_world_readable_even_with_a_permissive_umask(tmp_path):
    previous = os.umask(0o000)
    try:
        _reload(tmp_path / "instance")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "instance" / "pii-keys.json").stat().st_mode) == 0o600
