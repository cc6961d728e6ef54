"""Encryption of personal data at rest, and keyed digests to find it without decrypting.

Every personal value (a signer's names, email, postcode, comment, and the tokens
waiting in the mail outbox) is stored as AES-256-GCM ciphertext::

    version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext + tag

The key id is the start of SHA-256 of the key, so any of the configured keys
can decrypt and ``keys rotate`` can tell which rows are not yet under the
newest key. The column's name is bound in as associated data, so a ciphertext
copied into another column (a name into the email column, say) fails to decrypt.

Equality lookups (has this address signed this action?) use an HMAC-SHA256 of
the normalized value under a separate index key, never the plain value.

What a supporter submits is first sealed (a libsodium sealed box, through PyNaCl) to
the intake public key: the web tier holds that public key only for it, and the vault
workers, which hold the private key, open it (``petitions.services.intake``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from sqlalchemy import LargeBinary
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

FORMAT_VERSION = b"\x01"
KEY_ID_LENGTH = 4
NONCE_LENGTH = 12
HEADER_LENGTH = 1 + KEY_ID_LENGTH + NONCE_LENGTH


class VaultError(ValueError):
    """A key is missing, malformed, or cannot decrypt a value."""


def generate_key() -> str:
    """A new random 256-bit key, base64url-encoded without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise VaultError("a key is not valid base64url") from exc
    if len(raw) != 32:
        raise VaultError("a key must be 32 bytes (256 bits)")
    return raw


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_LENGTH]


class PIIVault:
    """Encrypts, decrypts and digests personal data under the configured keys."""

    def __init__(self, encryption_keys: list[str], index_key: str) -> None:
        if not encryption_keys:
            raise VaultError("at least one encryption key is needed")
        raw_keys = [_decode_key(k) for k in encryption_keys]
        self._ciphers = {key_id(k): AESGCM(k) for k in raw_keys}
        self.current_key_id = key_id(raw_keys[0])
        self._current = self._ciphers[self.current_key_id]
        self._index_key = _decode_key(index_key)

    def encrypt(self, plaintext: str, context: str) -> bytes:
        return self.encrypt_bytes(plaintext.encode(), context)

    def decrypt(self, blob: bytes, context: str) -> str:
        return self.decrypt_bytes(blob, context).decode()

    def encrypt_bytes(self, data: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_LENGTH)
        ciphertext = self._current.encrypt(nonce, data, context.encode())
        return FORMAT_VERSION + self.current_key_id + nonce + ciphertext

    def decrypt_bytes(self, blob: bytes, context: str) -> bytes:
        blob = bytes(blob)
        if len(blob) < HEADER_LENGTH or blob[:1] != FORMAT_VERSION:
            raise VaultError("not a value encrypted by this application")
        cipher = self._ciphers.get(blob[1:1 + KEY_ID_LENGTH])
        if cipher is None:
            raise VaultError("encrypted under a key that is not configured")
        nonce = blob[1 + KEY_ID_LENGTH:HEADER_LENGTH]
        try:
            return cipher.decrypt(nonce, blob[HEADER_LENGTH:], context.encode())
        except InvalidTag as exc:
            raise VaultError("altered, truncated, or encrypted for another column") from exc

    def is_current(self, blob: bytes) -> bool:
        return bytes(blob[1:1 + KEY_ID_LENGTH]) == self.current_key_id

    def digest(self, value: str, purpose: str) -> str:
        """Hex HMAC-SHA256 of ``value``; ``purpose`` separates e.g. emails from IPs."""
        message = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def vault() -> PIIVault:
    return current_app.extensions["pii"]


def generate_intake_keys() -> tuple[str, str]:
    """A new intake key pair (X25519), as (public, private) in standard base64."""
    private = PrivateKey.generate()
    return (base64.b64encode(bytes(private.public_key)).decode(),
            base64.b64encode(bytes(private)).decode())


def _decode_intake_key(text: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise VaultError(f"{name} is not valid base64") from exc
    if len(raw) != 32:
        raise VaultError(f"{name} must be 32 bytes")
    return raw


class IntakeKeys:
    """Seals to the intake public key; opens only where the private key is configured."""

    def __init__(self, public_key: str, private_key: str | None = None) -> None:
        public = PublicKey(_decode_intake_key(public_key, "INTAKE_PUBLIC_KEY"))
        self._sealer = SealedBox(public)
        self._opener: SealedBox | None = None
        if private_key:
            private = PrivateKey(_decode_intake_key(private_key, "INTAKE_PRIVATE_KEY"))
            if bytes(private.public_key) != bytes(public):
                raise VaultError("INTAKE_PRIVATE_KEY does not belong to INTAKE_PUBLIC_KEY")
            self._opener = SealedBox(private)

    @property
    def can_open(self) -> bool:
        return self._opener is not None

    def seal(self, plaintext: bytes) -> bytes:
        return self._sealer.encrypt(plaintext)

    def open(self, sealed: bytes) -> bytes:
        if self._opener is None:
            raise VaultError("INTAKE_PRIVATE_KEY is not configured in this process")
        try:
            return self._opener.decrypt(bytes(sealed))
        except CryptoError as exc:
            raise VaultError("altered, truncated, or sealed to another key") from exc


def intake_keys() -> IntakeKeys:
    return current_app.extensions["intake"]


class EncryptedText(TypeDecorator[str]):
    """A text column stored as AES-GCM ciphertext, bound to its column's name."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: str | None, dialect: object) -> bytes | None:
        return None if value is None else vault().encrypt(value, self.context)

    def process_result_value(self, value: bytes | None, dialect: object) -> str | None:
        return None if value is None else vault().decrypt(value, self.context)


def init_vault(app: Flask) -> None:
    """Load the keys into ``app``; in development, create and keep them in ``instance/``."""
    keys = app.config["PII_ENCRYPTION_KEYS"]
    index_key = app.config["PII_INDEX_KEY"]
    if not keys or not index_key:
        keys, index_key = _development_keys(Path(app.instance_path))
    app.extensions["pii"] = PIIVault(keys, index_key)
    public_key = app.config["INTAKE_PUBLIC_KEY"]
    private_key = app.config["INTAKE_PRIVATE_KEY"]
    if not public_key:
        # Development and tests only: production refuses to start without it.
        public_key, private_key = _development_intake_keys(Path(app.instance_path))
    app.extensions["intake"] = IntakeKeys(public_key, private_key)
    _keep_decrypted_rows_out_of_logs()


def _drop_result_rows(record: logging.LogRecord) -> bool:
    return record.levelno > logging.DEBUG


def _keep_decrypted_rows_out_of_logs() -> None:
    """SQLAlchemy logs every result row at DEBUG, after decryption: names, addresses and
    tokens in clear. Its DEBUG records are only rows and column names, so they are
    dropped; statements and their (encrypted) parameters are still logged at INFO."""
    engine_log = logging.getLogger("sqlalchemy.engine.Engine")
    if _drop_result_rows not in engine_log.filters:
        engine_log.addFilter(_drop_result_rows)


def _development_keys(instance: Path) -> tuple[list[str], str]:
    stored = _generate_once(instance / "pii-keys.json", lambda: {
        "PII_ENCRYPTION_KEYS": [generate_key()], "PII_INDEX_KEY": generate_key()})
    return stored["PII_ENCRYPTION_KEYS"], stored["PII_INDEX_KEY"]


def _development_intake_keys(instance: Path) -> tuple[str, str]:
    def fresh() -> dict[str, str]:
        public, private = generate_intake_keys()
        return {"INTAKE_PUBLIC_KEY": public, "INTAKE_PRIVATE_KEY": private}

    stored = _generate_once(instance / "intake-keys.json", fresh)
    return stored["INTAKE_PUBLIC_KEY"], stored["INTAKE_PRIVATE_KEY"]


def _generate_once(path: Path, fresh_keys: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The keys kept in ``path``, written there first if it does not exist yet."""
    instance = path.parent
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fresh = fresh_keys()
        # A draft name of its own per call: two apps started in one process (threads)
        # must not write into, or unlink, each other's draft.
        draft = instance / f".{path.stem}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(fresh, handle, indent=2)
        try:
            # link() is atomic and refuses to overwrite: when the web app, the worker
            # and the scheduler start together, exactly one set of keys wins.
            os.link(draft, path)
            log.warning("Generated development keys in %s. Back this file up: without it "
                        "the stored names and addresses cannot be read.", path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return json.loads(path.read_text())
