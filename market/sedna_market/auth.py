"""Who may write to the market: bearer tokens, each naming a user and whether it is an admin.

Sources, merged (a token given twice must name the same user):

* ``MarketSettings.api_token`` / ``MARKET_API_TOKEN``: one token of the admin user ``admin``
  (the single shared token of earlier versions keeps every right it had);
* ``MarketSettings.tokens`` / ``MARKET_TOKENS``: JSON text;
* ``MarketSettings.tokens_file`` / ``MARKET_TOKENS_FILE``: a file with the same JSON.

The JSON maps a token to its user::

    {"<token>": {"user": "alice", "admin": false}, "<token2>": {"user": "ops", "admin": true}}

With ``MarketSettings.job_token_key`` / ``MARKET_JOB_TOKEN_KEY`` the market also accepts the
per-job tokens the operator derives with the same key (:mod:`sedna.common.jobtoken`): each names
the non-admin user ``job:<namespace>/<name>``.

Reading needs no token. Writing needs one; a user may delete or overwrite only what it uploaded,
an admin anything. ``insecure`` (no token at all) makes every caller the admin :data:`ANONYMOUS`.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sedna.common.jobtoken import JOB_TOKEN_PREFIX, verify_market_job_token

from .settings import MarketSettings

log = logging.getLogger(__name__)

_USER_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,255}$")
#: name of the user behind ``api_token``
SINGLE_TOKEN_USER = "admin"
#: tokens shorter than this get a warning at start: a guessable token is little protection
MIN_TOKEN_LENGTH = 16


class AuthConfigError(ValueError):
    """The token configuration is unusable (or missing without ``insecure``); says what to fix."""


@dataclass(frozen=True)
class User:
    """A caller the market knows."""

    name: str
    admin: bool = False

    def may_change(self, owner: str) -> bool:
        """Whether this user may delete or overwrite something ``owner`` uploaded (an empty
        owner, as on rows stored before owners were recorded, only admins may change)."""
        return self.admin or (bool(owner) and owner == self.name)


#: the caller when the market runs ``insecure``: everyone may do everything
ANONYMOUS = User("anonymous", admin=True)


def _parse(text: str, source: str) -> dict[str, User]:
    try:
        raw: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuthConfigError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise AuthConfigError(f'{source} must be a JSON object {{"<token>": {{"user": "...", "admin": false}}}}')
    users: dict[str, User] = {}
    for token, entry in raw.items():
        shown = f"{token[:3]}…" if len(token) > 3 else "…"
        if not isinstance(entry, dict) or not isinstance(entry.get("user"), str):
            raise AuthConfigError(f'{source}: the entry of token {shown} must be {{"user": "<name>", "admin": <bool>}}')
        name, admin = entry["user"], entry.get("admin", False)
        if not _USER_NAME.match(name):
            raise AuthConfigError(f"{source}: user name {name!r} must match [A-Za-z0-9._@-]{{1,255}}")
        if not isinstance(admin, bool):
            raise AuthConfigError(f"{source}: 'admin' of user {name!r} must be true or false")
        extra = set(entry) - {"user", "admin"}
        if extra:
            raise AuthConfigError(f"{source}: unknown field(s) {sorted(extra)} for user {name!r}")
        users[token] = User(name, admin)
    return users


def load_users(settings: MarketSettings) -> dict[str, User]:
    """Every configured token and its user; raises :class:`AuthConfigError` on a bad setting."""
    sources: list[tuple[str, dict[str, User]]] = []
    if settings.api_token:
        sources.append(("api_token (MARKET_API_TOKEN)", {settings.api_token: User(SINGLE_TOKEN_USER, admin=True)}))
    if settings.tokens:
        sources.append(("tokens (MARKET_TOKENS)", _parse(settings.tokens, "tokens (MARKET_TOKENS)")))
    if settings.tokens_file is not None:
        path = Path(settings.tokens_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise AuthConfigError(f"tokens_file {path} cannot be read: {exc}") from None
        sources.append((f"tokens_file {path}", _parse(text, f"tokens_file {path}")))
    users: dict[str, User] = {}
    for source, found in sources:
        for token, user in found.items():
            if not token.strip():
                raise AuthConfigError(f"{source}: user {user.name!r} has an empty token")
            if len(token) < MIN_TOKEN_LENGTH:
                log.warning("%s: the token of user %r has %d characters; use at least %d (e.g. `openssl rand -hex 24`)",
                            source, user.name, len(token), MIN_TOKEN_LENGTH)
            if token in users and users[token] != user:
                raise AuthConfigError(f"{source}: one token is given to both {users[token].name!r} and {user.name!r}")
            users[token] = user
    return users


class Authenticator:
    """Maps an ``Authorization`` header to a :class:`User` (None: unknown or missing)."""

    def __init__(self, users: dict[str, User], insecure: bool = False, job_token_key: str | None = None) -> None:
        self._users = [(token.encode(), user) for token, user in users.items()]
        self._job_key = job_token_key or None
        self.insecure = insecure and not users

    @classmethod
    def from_settings(cls, settings: MarketSettings) -> Authenticator:
        """Load the tokens; without any, refuse unless ``settings.insecure``."""
        users = load_users(settings)
        if not users and settings.job_token_key and not settings.insecure:
            raise AuthConfigError(
                "job_token_key (MARKET_JOB_TOKEN_KEY) lets jobs write as themselves, but no admin token is set: "
                "set MARKET_API_TOKEN or MARKET_TOKENS / MARKET_TOKENS_FILE too"
            )
        if not users and not settings.insecure:
            raise AuthConfigError(
                "the market has no write token, so anyone could upload, delete and overwrite models. "
                "Set MARKET_API_TOKEN (one admin token), MARKET_TOKENS / MARKET_TOKENS_FILE (named users), "
                "or accept an open market explicitly with `sedna kb serve --insecure` "
                "(MARKET_INSECURE=1, MarketSettings(insecure=True))"
            )
        if users and settings.insecure:
            log.info("insecure is set but tokens are configured: writes still need a token")
        return cls(users, insecure=settings.insecure, job_token_key=settings.job_token_key)

    @property
    def enabled(self) -> bool:
        return not self.insecure

    def user(self, header: str | None) -> User | None:
        """The user of a ``Bearer`` header; :data:`ANONYMOUS` when insecure."""
        if self.insecure:
            return ANONYMOUS
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        given = token.strip().encode()
        if self._job_key and given.startswith(JOB_TOKEN_PREFIX.encode()):
            job_user = verify_market_job_token(self._job_key, given.decode(errors="replace"))
            return User(job_user) if job_user else None
        found = None
        # every token is compared (constant time each), so the answer's timing says nothing
        for known, user in self._users:
            if hmac.compare_digest(given, known):
                found = user
        return found


INSECURE_BANNER = """
################################################################################
#  MODEL MARKET RUNNING INSECURE: writes need no token.                        #
#  Anyone who can reach this port may upload, delete and overwrite models and  #
#  the task index. Use only for development; set MARKET_API_TOKEN or           #
#  MARKET_TOKENS(_FILE) and drop --insecure / MARKET_INSECURE for real use.    #
################################################################################
"""
