"""Candidate ID numbers (身份证号): validation, encryption at rest, lookup HMAC, masking.

* **Encryption**: AES-256-GCM (``cryptography``), a random 96-bit nonce per value, stored as
  ``v1.<urlsafe base64 of nonce + ciphertext>``.
* **Lookup**: HMAC-SHA256 of the normalised number, so a candidate can be found by ID without decrypting.
* **Keys**: both keys are derived with HKDF-SHA256 from the configuration value ``PII_KEY`` (environment
  ``EXAMSYS_PII_KEY``; any long random string, e.g. ``python -c "import secrets; print(secrets.token_urlsafe(48))"``).
  **Development fallback**: when ``PII_KEY`` is unset, the keys are derived from ``SECRET_KEY`` (HKDF info
  ``examsys-pii-dev-fallback``) and a warning is logged once. That keeps ``make run`` working, but rotating
  ``SECRET_KEY`` then makes stored ID numbers unreadable, so production must set ``EXAMSYS_PII_KEY`` (and
  keep it as long as the data).
* **Masking**: ``110101********1234`` (first 6, last 4) everywhere a number is shown: pages, exports,
  audit rows and logs (:class:`MaskingFilter` masks anything that looks like an ID number in log records).
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import logging
import os
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_AAD = b"examsys id number v1"
ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_key_cache: dict[str, tuple[bytes, bytes]] = {}
_warned = False


class PiiError(ValueError):
    pass


def _derive(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"examsys-pii", info=info).derive(material)


def _keys() -> tuple[bytes, bytes]:
    global _warned
    cfg = current_app.config
    raw = cfg.get("PII_KEY")
    if raw:
        material, label = str(raw).encode("utf-8"), "pii"
    else:
        if not _warned:
            current_app.logger.warning("PII_KEY is not set: ID numbers are encrypted with a key derived from "
                                       "SECRET_KEY (development fallback). Set EXAMSYS_PII_KEY in production.")
            _warned = True
        material, label = (str(cfg["SECRET_KEY"]) + "|examsys-pii-dev-fallback").encode("utf-8"), "dev"
    cache_key = hashlib.sha256(label.encode() + b"|" + material).hexdigest()
    keys = _key_cache.get(cache_key)
    if keys is None:
        keys = (_derive(material, b"examsys-pii-encrypt"), _derive(material, b"examsys-pii-lookup"))
        _key_cache[cache_key] = keys
    return keys


def normalise_id(value: str) -> str:
    return "".join(str(value or "").split()).upper()


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def id_problem(value: str, today: _dt.date | None = None) -> str | None:
    """Why ``value`` is not a valid 18-digit resident ID number (GB 11643), or ``None`` when it is.

    Codes: ``required``, ``length``, ``characters``, ``birth_date``, ``checksum``.
    """
    v = normalise_id(value)
    if not v:
        return "required"
    if len(v) != 18:
        return "length"
    if not (v[:17].isdigit() and (v[17].isdigit() or v[17] == "X")) or not v.isascii():
        return "characters"
    try:
        born = _dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return "birth_date"
    if born.year < 1900 or born > (today or _dt.date.today()):
        return "birth_date"
    if check_digit(v[:17]) != v[17]:
        return "checksum"
    return None


def mask_id(value: str) -> str:
    """``110101********1234``; shorter strings are masked but for their last 2 characters."""
    v = normalise_id(value)
    if len(v) == 18:
        return v[:6] + "*" * 8 + v[-4:]
    if len(v) <= 2:
        return "*" * len(v)
    return "*" * (len(v) - 2) + v[-2:]


def mask_text(text: str) -> str:
    """Mask every ID-number-like run of 18 characters in ``text``."""
    return ID_PATTERN.sub(lambda m: m.group(1) + "*" * 8 + m.group(3)[-4:].upper(), text)


def encrypt(value: str) -> str:
    enc_key, _ = _keys()
    nonce = os.urandom(12)
    ct = AESGCM(enc_key).encrypt(nonce, value.encode("utf-8"), _AAD)
    return "v1." + base64.urlsafe_b64encode(nonce + ct).decode("ascii")


def decrypt(token: str) -> str:
    if not token or not token.startswith("v1."):
        raise PiiError("not an examsys PII token")
    enc_key, _ = _keys()
    raw = base64.urlsafe_b64decode(token[3:].encode("ascii"))
    try:
        return AESGCM(enc_key).decrypt(raw[:12], raw[12:], _AAD).decode("utf-8")
    except Exception as e:  # InvalidTag: wrong key or tampered data
        raise PiiError("the ID number cannot be decrypted with the configured PII_KEY") from e


def lookup_hash(value: str) -> str:
    _, mac_key = _keys()
    return hmac.new(mac_key, normalise_id(value).encode("utf-8"), hashlib.sha256).hexdigest()


class MaskingFilter(logging.Filter):
    """Masks ID numbers in log messages (installed on the app logger by the delivery blueprint)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - a broken format string is logged as is
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_masking(app) -> None:
    if not any(isinstance(f, MaskingFilter) for f in app.logger.filters):
        app.logger.addFilter(MaskingFilter())
    for handler in app.logger.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
