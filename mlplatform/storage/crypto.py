"""Credentials encrypted at rest (Fernet), with keys from settings; the first key encrypts."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = list(settings.STORAGE_ENCRYPTION_KEYS)
    if not keys:
        # Without explicit keys, derive one from SECRET_KEY (rotating SECRET_KEY then needs a re-save).
        digest = hashlib.sha256(f"mlplatform.storage:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(data: dict) -> bytes:
    return _fernet().encrypt(json.dumps(data).encode())


def decrypt(token: bytes | memoryview | None) -> dict:
    """The credentials; an empty dict when there are none. Raises ValueError on a wrong key."""
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(bytes(token)))
    except InvalidToken as exc:
        raise ValueError("stored credentials cannot be decrypted with the configured keys") from exc
