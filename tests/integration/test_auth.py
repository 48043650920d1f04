"""Authentication against a real daemon process: setup, sessions, CSRF, tokens, throttling."""

import asyncio
import sqlite3

from tests.support.client import PASSWORD


async def test_setup_login_logout_and_csrf(rockd):
    fresh = await rockd(process=True, admin=False)  # no user at all
    client = fresh.api
    status, body = await client.call("GET", "/api/v1/state")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await client.call("POST", "/api/v1/setup",
                                     {"username": "alice", "password": "short"})
    assert status == 400 and body["error"]["code"] == "invalid_field"
    status, body = await client.call("POST", "/api/v1/setup",
                                     {"username": "alice", "password": PASSWORD})
    assert status == 201 and body["user"] == {"name": "alice"} and body["csrf"]
    assert (await client.call("GET", "/api/v1/state?path=/system"))[0] == 200
    status, body = await client.call("POST", "/api/v1/setup",
                                     {"username": "mallory", "password": PASSWORD})
    assert status == 409 and body["error"]["code"] == "already_set_up"

    # a cookie write without the CSRF header is refused, with it accepted
    csrf, client.csrf = client.csrf, ""
    status, body = await client.call("POST", "/api/v1/tokens",
                                     {"name": "ci", "scopes": ["read"]})
    assert status == 403 and body["error"]["code"] == "csrf_failed"
    status, _ = await client.call("POST", "/api/v1/tokens", {"name": "ci", "scopes": ["read"]},
                                  headers={"X-CSRF-Token": "wrong"})
    assert status == 403
    client.csrf = csrf
    status, session = await client.call("GET", "/api/v1/auth/session")
    assert status == 200 and session == {"user": {"name": "alice"}, "csrf": csrf}

    assert (await client.call("POST", "/api/v1/auth/logout"))[0] == 204
    assert (await client.call("GET", "/api/v1/state"))[0] == 401
    await client.login("alice", PASSWORD)
    assert (await client.call("GET", "/api/v1/state"))[0] == 200
    # the password is nowhere in the database or the log
    database = fresh.settings.database.read_bytes()
    wal = fresh.settings.state_dir / "rockd.sqlite3-wal"
    for blob in (database, wal.read_bytes() if wal.exists() else b"",
                 fresh.proc.output().encode()):
        assert PASSWORD.encode() not in blob
    with sqlite3.connect(fresh.settings.database) as conn:
        (hashed,) = conn.execute("SELECT hash FROM users WHERE name = 'alice'").fetchone()
    assert hashed.startswith("$argon2id$")


async def test_tokens_scopes_and_revocation(rockd):
    box = await rockd(process=True)
    admin = box.api
    readonly = box.client(token=await admin.make_token(["read"], "ro"))
    writer = box.client(token=await admin.make_token(["read", "write"], "rw"))
    assert (await readonly.call("GET", "/api/v1/state?path=/system"))[0] == 200
    status, body = await readonly.call("POST", "/api/v1/tokens",
                                       {"name": "x", "scopes": ["read"]})
    assert status == 403 and body["error"]["code"] == "insufficient_scope"
    # a token write needs no CSRF header
    status, body = await writer.call("POST", "/api/v1/tokens",
                                     {"name": "x", "scopes": ["read"]})
    assert status == 201 and body["token"].startswith("rockd_")
    status, listing = await admin.call("GET", "/api/v1/tokens")
    assert [t["name"] for t in listing["tokens"]] == ["ro", "rw", "x"]
    assert all("token" not in t for t in listing["tokens"])
    ro_id = listing["tokens"][0]["id"]
    assert (await admin.call("DELETE", f"/api/v1/tokens/{ro_id}"))[0] == 204
    status, body = await readonly.call("GET", "/api/v1/state")
    assert status == 401 and body["error"]["code"] == "bad_token"
    assert (await admin.call("DELETE", f"/api/v1/tokens/{ro_id}"))[0] == 404
    # tokens and sessions survive a restart of the daemon
    await box.restart()
    assert (await writer.call("GET", "/api/v1/state?path=/system"))[0] == 200
    assert (await admin.call("GET", "/api/v1/tokens"))[0] == 200
    assert (await readonly.call("GET", "/api/v1/state"))[0] == 401


async def test_failed_logins_are_slowed_then_refused(rockd):
    box = await rockd(process=True, login=False)
    client = box.api
    statuses = []
    for _ in range(12):
        status, _ = await client.call("POST", "/api/v1/auth/login",
                                      {"username": "admin", "password": "wrong password"})
        statuses.append(status)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    # even the right password is refused while throttled
    status, body = await client.call("POST", "/api/v1/auth/login",
                                     {"username": "admin", "password": PASSWORD})
    assert status == 429 and body["error"]["detail"]["retry_after"] > 0
    assert "wrong password" not in box.proc.output()
    # an unknown user takes as long to refuse as a known one (no user enumeration)
    other = box.client(source="127.0.0.2")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await other.call("POST", "/api/v1/auth/login", {"username": "nobody", "password": "x"})
    t1 = loop.time()
    await other.call("POST", "/api/v1/auth/login", {"username": "admin", "password": "x"})
    t2 = loop.time()
    assert (t1 - t0) > 0.3 * (t2 - t1)


async def test_parallel_wrong_logins_are_counted_before_the_hash(rockd):
    box = await rockd(process=True, login=False)
    attacker = box.api
    other = box.client(source="127.0.0.3")
    wrong = {"username": "admin", "password": "wrong password"}
    answers = await asyncio.gather(*(attacker.call("POST", "/api/v1/auth/login", wrong)
                                     for _ in range(50)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [401] * 10 + [429] * 40, statuses
    assert all(body["error"]["code"] == "too_many_requests"
               for status, body in answers if status == 429)
    # the right password from another address still works, and clears that address
    await other.login()
    assert (await other.call("GET", "/api/v1/auth/session"))[0] == 200
    status, _ = await attacker.call("POST", "/api/v1/auth/login",
                                    {"username": "admin", "password": PASSWORD})
    assert status == 429
