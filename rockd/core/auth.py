"""Users, argon2 password hashes, sessions, API tokens, CSRF tokens and login throttling.

Only digests of session cookies and API tokens are stored; the secrets themselves are shown to
the client once. Passwords exist only as argon2 hashes, hashed off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import TTLCache

from rockd.core.errors import Conflict, NotFound, TooManyRequests, Unauthorized
from rockd.core.store import Store
from rockd.core.times import now

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, digest TEXT UNIQUE NOT NULL, name TEXT NOT NULL, user TEXT NOT NULL,
    scopes TEXT NOT NULL, created TEXT NOT NULL);
"""

SESSION_SECONDS = 7 * 24 * 3600
READ, WRITE = "read", "write"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, and how it proved it."""

    user: str
    scopes: frozenset[str]
    via: str  # "session" or "token"
    csrf: str = ""
    credential: str = ""  # the session digest or the token id


@dataclass
class _Session:
    user: str
    csrf: str
    expires: float


def client_key(address: str) -> str:
    """Whom the login throttle counts for an address: an IPv6 client by its /64 (what one
    host is usually given, and can pick any address in), anything else by the address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@dataclass
class LoginThrottle:
    """Login attempts per client (see `client_key`): free at first, then slowed, then refused
    (429) until `window` seconds after the last one; a success clears them. At most `clients`
    are remembered, the least recent forgotten first."""

    free: int = 5
    limit: int = 10
    delay: float = 0.5
    window: float = 900.0
    clients: int = 10_000
    _attempts: TTLCache[str, tuple[int, float]] = field(init=False)

    def __post_init__(self) -> None:
        self._attempts = TTLCache(maxsize=self.clients, ttl=self.window, timer=time.monotonic)

    def attempt(self, address: str) -> float:
        """Count an attempt before its password is checked, in the same step as the check (no
        await between them, so parallel attempts cannot all pass before any is counted); answer
        the seconds to wait before checking it. Raises 429 once over the limit, uncounted."""
        key = client_key(address)
        count, last = self._attempts.get(key, (0, 0.0))
        moment = time.monotonic()
        if count >= self.limit:
            retry = int(self.window - (moment - last)) + 1
            raise TooManyRequests("too many failed logins; try again later",
                                  detail={"retry_after": retry})
        self._attempts[key] = (count + 1, moment)
        return self.delay if count >= self.free else 0.0

    def succeeded(self, address: str) -> None:
        self._attempts.pop(client_key(address), None)

    def __len__(self) -> int:
        return len(self._attempts)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()



class Auth:
    """Authentication state: the tables in SQLite, with sessions and tokens cached in memory."""

    def __init__(self, store: Store, hasher: PasswordHasher | None = None):
        self.store = store
        self.hasher = hasher or PasswordHasher()
        self.throttle = LoginThrottle()
        self._sessions: dict[str, _Session] = {}
        self._tokens: dict[str, Principal] = {}
        self._user_count = 0
        self._dummy_hash = ""

    async def load(self) -> None:
        db = self.store.db
        async with db.execute("SELECT COUNT(*) FROM users") as cur:
            (self._user_count,) = await cur.fetchone()  # type: ignore[misc]
        await db.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
        await db.commit()
        async with db.execute("SELECT digest, user, csrf, expires FROM sessions") as cur:
            async for digest, user, csrf, expires in cur:
                self._sessions[digest] = _Session(user, csrf, expires)
        async with db.execute("SELECT id, digest, user, scopes FROM tokens") as cur:
            async for token_id, digest, user, scopes in cur:
                self._tokens[digest] = Principal(user, frozenset(scopes.split(",")), "token",
                                                 credential=token_id)
        self._dummy_hash = await self._hash(secrets.token_urlsafe(16))

    @property
    def has_users(self) -> bool:
        return self._user_count > 0

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, hashed: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self.hasher.verify, hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    async def create_user(self, name: str, password: str) -> dict[str, Any]:
        hashed = await self._hash(password)
        async with self.store.lock:
            cur = await self.store.db.execute(
                "INSERT OR IGNORE INTO users VALUES (?, ?, ?)", (name, hashed, now()))
            await self.store.db.commit()
        if cur.rowcount == 0:
            raise Conflict(f"user {name} exists", code="exists")
        self._user_count += 1
        return {"name": name}

    async def setup(self, name: str, password: str) -> tuple[str, str]:
        """Create the first user and a session for it; 409 once any user exists."""
        if self.has_users:
            raise Conflict("rockd is already set up", code="already_set_up")
        await self.create_user(name, password)
        return await self._new_session(name)

    async def login(self, name: str, password: str, address: str) -> tuple[str, str]:
        """Check the password; answer (session secret, csrf token)."""
        wait = self.throttle.attempt(address)  # counted before any await: see LoginThrottle
        if wait:
            await asyncio.sleep(wait)
        async with self.store.db.execute("SELECT hash FROM users WHERE name = ?", (name,)) as cur:
            row = await cur.fetchone()
        # verify against a dummy hash for unknown users so that timing does not tell them apart
        ok = await self._verify(row[0] if row else self._dummy_hash, password)
        if not (ok and row):
            raise Unauthorized("wrong user name or password", code="bad_credentials")
        self.throttle.succeeded(address)
        return await self._new_session(name)

    async def _new_session(self, user: str) -> tuple[str, str]:
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = time.time() + SESSION_SECONDS
        digest = _digest(secret)
        async with self.store.lock:
            await self.store.db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)",
                                        (digest, user, csrf, expires))
            await self.store.db.commit()
        self._sessions[digest] = _Session(user, csrf, expires)
        return secret, csrf

    async def logout(self, principal: Principal) -> None:
        if principal.via != "session":
            return
        self._sessions.pop(principal.credential, None)
        async with self.store.lock:
            await self.store.db.execute("DELETE FROM sessions WHERE digest = ?",
                                        (principal.credential,))
            await self.store.db.commit()

    def by_session(self, secret: str) -> Principal | None:
        digest = _digest(secret)
        session = self._sessions.get(digest)
        if session is None or session.expires < time.time():
            return None
        return Principal(session.user, frozenset((READ, WRITE)), "session", session.csrf, digest)

    def by_token(self, secret: str) -> Principal | None:
        return self._tokens.get(_digest(secret))

    @staticmethod
    def csrf_ok(principal: Principal, header: str | None) -> bool:
        return bool(header) and hmac.compare_digest(principal.csrf, header or "")

    async def create_token(self, user: str, name: str, scopes: Iterable[str]) -> dict[str, Any]:
        token_id = secrets.token_hex(8)
        secret = "rockd_" + secrets.token_urlsafe(32)
        digest = _digest(secret)
        scope_set = frozenset(scopes)
        async with self.store.lock:
            await self.store.db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?)",
                (token_id, digest, name, user, ",".join(sorted(scope_set)), now()))
            await self.store.db.commit()
        self._tokens[digest] = Principal(user, scope_set, "token", credential=token_id)
        return {"id": token_id, "name": name, "scopes": sorted(scope_set), "token": secret}

    async def list_tokens(self, user: str) -> list[dict[str, Any]]:
        async with self.store.db.execute(
            "SELECT id, name, scopes, created FROM tokens WHERE user = ? ORDER BY created",
            (user,),
        ) as cur:
            return [{"id": i, "name": n, "scopes": s.split(","), "created": c}
                    async for i, n, s, c in cur]

    async def delete_token(self, user: str, token_id: str) -> None:
        async with self.store.lock:
            cur = await self.store.db.execute(
                "DELETE FROM tokens WHERE id = ? AND user = ?", (token_id, user))
            await self.store.db.commit()
        if cur.rowcount == 0:
            raise NotFound(f"no token {token_id}")
        for digest, principal in list(self._tokens.items()):
            if principal.credential == token_id:
                del self._tokens[digest]
