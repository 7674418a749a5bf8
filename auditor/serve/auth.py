"""Who is asking: passwords, API tokens, the login rate limit and the viewer's rights.

Passwords are hashed with argon2id (RFC 9106), argon2-cffi's defaults (its profile of RFC
9106 sec. 4's second recommended option: 64 MiB, 3 passes, 4 lanes). API tokens are 256
random bits shown once; the store keeps their SHA-256 digest only (a token is a random key,
not a password: a fast hash is enough, OWASP ASVS 4.0.3 V2.10). No account exists until
``auditor users add`` makes one: there is no default password.
"""

from __future__ import annotations

import collections
import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from auditor.store import UserRecord

ROLES = ("admin", "agency")
TOKEN_PREFIX = "aud_"
# Failed logins per user name and client before the login answers 429 for a while: OWASP
# ASVS 4.0.3 V2.2.1 (anti-automation against credential stuffing); 5 in 5 minutes.
LOGIN_FAILURES = 5
LOGIN_WINDOW_S = 300.0
# A password shorter than this is refused by ``auditor users add|reset`` (NIST SP 800-63B
# sec. 5.1.1.2: at least 8 characters for a memorized secret chosen by the user).
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; a cap keeps a login cheap to refuse

_HASHER = PasswordHasher()
# Verified against when the user does not exist, so a login takes as long either way and
# does not tell which user names exist.
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one of ``stored_hash`` (None: no such user; the work is
    done anyway)."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is refused, None if it is accepted."""
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must have at most {MAX_PASSWORD} characters"
    return None


def new_token() -> tuple[str, str]:
    """A new API token and the digest the store keeps of it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def session_mark(user: UserRecord) -> str:
    """What a session keeps of the account's password hash: a new password (``auditor users
    reset``) ends every session opened with the old one."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Viewer:
    """Who is asking, and what that lets them see."""

    role: str  # admin | agency | public
    name: str = ""
    agency: str | None = None

    @property
    def public(self) -> bool:
        return self.role == "public"

    def can_agency(self, agency_id: str) -> bool:
        return self.role == "admin" or (self.role == "agency" and agency_id == self.agency)

    def can_target(self, owner_ids: Iterable[str]) -> bool:
        """A host or zone: an admin's, or an agency's among its owners."""
        return self.role == "admin" or (self.role == "agency" and self.agency in set(owner_ids))


PUBLIC = Viewer("public")


def viewer_of(user: UserRecord) -> Viewer:
    return Viewer(user.role, user.name, user.agency if user.role == "agency" else None)


class LoginLimiter:
    """Failed logins per (user name, client) in a sliding window, in this process."""

    def __init__(
        self,
        failures: int = LOGIN_FAILURES,
        window: float = LOGIN_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, str], collections.deque[float]] = {}

    def _recent(self, key: tuple[str, str]) -> collections.deque[float]:
        seen = self._seen.setdefault(key, collections.deque())
        now = self.clock()
        while seen and now - seen[0] > self.window:
            seen.popleft()
        return seen

    def blocked(self, user: str, client: str) -> bool:
        return len(self._recent((user, client))) >= self.failures

    def failed(self, user: str, client: str) -> None:
        self._recent((user, client)).append(self.clock())
        if len(self._seen) > 100_000:  # bounded: forget windows that have ended
            for key in [k for k, v in self._seen.items() if not v]:
                del self._seen[key]

    def succeeded(self, user: str, client: str) -> None:
        self._seen.pop((user, client), None)
