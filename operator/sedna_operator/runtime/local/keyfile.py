"""The state directory's key file: the LC signing key, and the key Secret objects are sealed with.

``state.db`` is the file people copy, attach to bug reports and back up, so it holds no secret
in clear: the LC key lives in ``state.key`` (mode 0600, beside it) and every Secret object in
the database is sealed with Fernet (AES-128-CBC plus HMAC-SHA256, from ``cryptography``) under a
key derived from it. This is encryption at rest in the sense of Kubernetes' EncryptionConfiguration:
whoever holds both files holds the secrets, whoever holds only the database holds nothing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["KEY_FILE", "SEALED_PREFIX", "KeyFile", "SealError"]

KEY_FILE = "state.key"
#: Marks a sealed body in the ``objects`` table; a body without it is a legacy clear-text row.
SEALED_PREFIX = "sealed:v1:"


class SealError(Exception):
    """A sealed value cannot be opened with this state directory's key."""


class KeyFile:
    """Loads (or creates, 0600) ``<state_dir>/state.key``; seals and opens Secret bodies.

    ``legacy_secret`` is an LC key found in an older ``state.db``: it becomes the file's key so
    that workers adopted from that run keep valid report tokens.
    """

    def __init__(self, state_dir: Path, legacy_secret: str | None = None) -> None:
        self.path = Path(state_dir) / KEY_FILE
        self.lc_secret = self._load_or_create(legacy_secret)
        derived = hmac.new(self.lc_secret.encode(), b"sedna local runtime: Secret objects", hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def _load_or_create(self, legacy_secret: str | None) -> str:
        with contextlib.suppress(FileNotFoundError):
            text = self.path.read_text(encoding="ascii").strip()
            if text:
                return text
        value = legacy_secret or secrets.token_hex(32)
        # O_EXCL: two commands starting at once agree on the first writer's key
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return self.path.read_text(encoding="ascii").strip() or value
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(value + "\n")
        return value

    def seal(self, plain: str) -> str:
        return SEALED_PREFIX + self._fernet.encrypt(plain.encode()).decode("ascii")

    def open(self, body: str) -> str:
        """The clear text of a stored body (legacy clear-text bodies pass through)."""
        if not body.startswith(SEALED_PREFIX):
            return body
        try:
            return self._fernet.decrypt(body[len(SEALED_PREFIX) :].encode("ascii")).decode()
        except (InvalidToken, ValueError) as exc:
            raise SealError(f"{self.path} is not the key this Secret was sealed with") from exc

    @staticmethod
    def is_sealed(body: str) -> bool:
        return body.startswith(SEALED_PREFIX)
