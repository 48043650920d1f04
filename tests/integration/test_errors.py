"""A battery of bad requests: each is a 4xx with the right code and changes nothing."""

import asyncio
import gzip
import os
import zlib

import pytest

from tests.support.changes import changes
from tests.support.client import PASSWORD
from tests.support.rawhttp import exchange

LONG = "a" * 65

# (method, path, body or raw bytes, status, code)
BAD_REQUESTS = [
    ("POST", "/api/v1/tokens", b"{not json", 400, "malformed_json"),
    ("POST", "/api/v1/tokens", b"", 400, "malformed_json"),
    ("POST", "/api/v1/tokens", b"[1, 2]", 400, "invalid_field"),
    ("POST", "/api/v1/tokens", {"name": "t"}, 400, "invalid_field"),
    ("POST", "/api/v1/tokens", {"name": 5, "scopes": ["read"]}, 400, "invalid_field"),
    ("POST", "/api/v1/tokens", {"name": "t", "scopes": "read"}, 400, "invalid_field"),
    ("POST", "/api/v1/tokens", {"name": "t", "scopes": []}, 400, "invalid_field"),
    ("POST", "/api/v1/tokens", {"name": "t", "scopes": ["root"]}, 400, "invalid_field"),
    ("POST", "/api/v1/tokens", {"name": "t", "scopes": ["write"]}, 400, "invalid_field"),
    ("POST", "/api/v1/tokens", {"name": "t", "scopes": ["read"], "x": 1}, 400,
     "invalid_field"),
    ("POST", "/api/v1/tokens", {"name": "../etc", "scopes": ["read"]}, 400, "invalid_name"),
    ("POST", "/api/v1/tokens", {"name": "a b", "scopes": ["read"]}, 400, "invalid_name"),
    ("POST", "/api/v1/tokens", {"name": ".hidden", "scopes": ["read"]}, 400, "invalid_name"),
    ("POST", "/api/v1/tokens", {"name": "-x", "scopes": ["read"]}, 400, "invalid_name"),
    ("POST", "/api/v1/tokens", {"name": LONG, "scopes": ["read"]}, 400, "invalid_name"),
    ("POST", "/api/v1/tokens", {"name": "", "scopes": ["read"]}, 400, "invalid_name"),
    ("POST", "/api/v1/tokens", {"name": "a\nb", "scopes": ["read"]}, 400, "invalid_name"),
    ("POST", "/api/v1/setup", {"username": "$(reboot)", "password": PASSWORD}, 400,
     "invalid_name"),
    ("POST", "/api/v1/setup", {"username": "bob", "password": PASSWORD}, 409, "already_set_up"),
    ("POST", "/api/v1/tokens", b'{"name": "' + b"x" * (2 << 20) + b'"}', 413,
     "payload_too_large"),
    ("GET", "/api/v1/nope", None, 404, "not_found"),
    ("GET", "/api/v2/state", None, 404, "not_found"),
    ("GET", "/api/v1/state?path=~2", None, 400, "invalid_path"),
    ("GET", "/api/v1/state?path=nope", None, 400, "invalid_path"),
    ("GET", "/api/v1/state?other=1", None, 400, "invalid_field"),
    ("PUT", "/api/v1/tokens", {"name": "t", "scopes": ["read"]}, 405, "method_not_allowed"),
    ("DELETE", "/api/v1/state", None, 405, "method_not_allowed"),
    ("DELETE", "/api/v1/tokens/no-such-token", None, 404, "not_found"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), BAD_REQUESTS,
                         ids=[f"{m} {p} {s}" for m, p, _, s, _ in BAD_REQUESTS])
async def test_bad_request(rockd, method, path, body, status, code):
    box = await rockd()
    daemon, api = box.daemon, box.api
    tokens = (await api.call("GET", "/api/v1/tokens"))[1]
    changed = changes(daemon)
    raw = body if isinstance(body, bytes) else None
    got, answer = await api.call(method, path, None if raw is not None else body, raw=raw)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]
    assert changed == []
    assert (await api.call("GET", "/api/v1/tokens"))[1] == tokens


@pytest.mark.parametrize("authorization", [
    "Bearer nope", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Bearer rockd_" + "A" * 43, "token",
])
async def test_bad_credentials_are_401(rockd, authorization):
    client = (await rockd(login=False)).api
    for method, path in (("GET", "/api/v1/state"), ("POST", "/api/v1/tokens"),
                         ("GET", "/api/v1/openapi.json")):
        status, body = await client.call(method, path, {"name": "t", "scopes": ["read"]},
                                         headers={"Authorization": authorization})
        assert status == 401, body
        assert body["error"]["code"] in ("bad_token", "unauthorized")


async def test_everything_but_health_setup_and_login_needs_auth(rockd):
    client = (await rockd(login=False)).api
    assert (await client.call("GET", "/api/v1/health"))[0] == 200
    for method, path in (("GET", "/api/v1/state"), ("GET", "/api/v1/tokens"),
                         ("GET", "/api/v1/openapi.json"), ("POST", "/api/v1/auth/logout"),
                         ("GET", "/api/v1/auth/session"), ("DELETE", "/api/v1/tokens/x")):
        status, body = await client.call(method, path)
        assert status == 401, (method, path, body)


TOKEN = b'{"name": "t", "scopes": ["read"]}'
HEALTH = b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n"
LONG_URL = b"GET /api/v1/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
# a body that is not what its Content-Encoding says, to a route that answers without reading it
UNREAD_BAD_GZIP = (b"POST /api/v1/pools HTTP/1.1\r\nHost: localhost\r\nContent-Encoding: gzip"
                   b"\r\nContent-Length: 16\r\n\r\nnot gzip at all!")

# requests aiohttp's parser refuses before rockd sees them: (id, bytes, status, code)
MALFORMED = [
    ("long URL", LONG_URL, 414, "uri_too_long"),
    ("long header", HEALTH + b"X-Long: " + b"a" * 9000 + b"\r\n\r\n", 431,
     "headers_too_large"),
    ("long header name", HEALTH + b"X" * 9000 + b": 1\r\n\r\n", 431, "headers_too_large"),
    ("many headers", HEALTH + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
     431, "headers_too_large"),
    ("no HTTP", b"GARBAGE\r\n\r\n", 400, "malformed_request"),
    ("bad method", b"G(T /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n", 400,
     "malformed_request"),
    ("bad version", b"GET /api/v1/health HTTP/1.x\r\nHost: localhost\r\n\r\n", 400,
     "malformed_request"),
    ("header without a colon", HEALTH + b"nocolon\r\n\r\n", 400, "malformed_request"),
    ("TLS on the HTTP port", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(64)
     + b"\r\n\r\n", 400, "malformed_request"),
    ("unknown transfer encoding", b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\n"
     b"Transfer-Encoding: gzip, chunked, x\r\n\r\n", 400, "malformed_request"),
]


@pytest.mark.parametrize(("request_bytes", "status", "code"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
async def test_a_request_the_parser_refuses_gets_the_error_shape(rockd, request_bytes, status,
                                                                   code):
    box = await rockd(login=False)
    daemon = box.daemon
    changed = changes(daemon)
    answer = await exchange(box.url, request_bytes)
    assert answer.status == status, answer
    assert answer.headers["content-type"].startswith("application/json"), answer
    assert answer.headers["x-content-type-options"] == "nosniff"
    error = answer.json()["error"]
    assert error["code"] == code and error["message"], error
    assert changed == []


async def test_a_bad_request_after_a_good_one_gets_the_error_shape(rockd):
    daemon = (await rockd(login=False)).daemon
    host, port = daemon.settings.listen.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(HEALTH + b"\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200 ")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(b"GARBAGE\r\n\r\n")
        second = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert b" 400 " in second.split(b"\r\n")[0], second
    assert b"application/json" in second and b'"malformed_request"' in second, second


FLOODS = [("long URL", LONG_URL, 414, "uri_too_long"),
          ("unread bad gzip", UNREAD_BAD_GZIP, 401, "unauthorized")]


@pytest.mark.parametrize(("request_bytes", "status", "code"), [f[1:] for f in FLOODS],
                         ids=[f[0] for f in FLOODS])
async def test_a_flood_of_bad_requests_is_logged_in_a_few_lines(rockd, request_bytes, status,
                                                                code):
    proc = (await rockd(process=True, login=False)).proc
    before = len(proc.output().splitlines())
    answers = []
    for _ in range(10):
        answers += await asyncio.gather(*(exchange(proc.url, request_bytes)
                                          for _ in range(50)))
    assert [a.status for a in answers] == [status] * 500
    assert all(a.json()["error"]["code"] == code for a in answers)
    await asyncio.sleep(0.2)  # for what a connection logs after its answer
    logged = proc.output().splitlines()[before:]
    assert len(logged) <= 3, f"{len(logged)} lines, {len(chr(10).join(logged))} bytes"
    assert "Traceback" not in "\n".join(logged)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
async def test_a_body_that_is_not_its_content_encoding_is_400(rockd, encoding):
    box = await rockd()
    daemon, api = box.daemon, box.api
    tokens = (await api.call("GET", "/api/v1/tokens"))[1]
    changed = changes(daemon)
    status, answer = await api.call("POST", "/api/v1/tokens", raw=b"\x00not compressed" * 64,
                                    headers={"Content-Encoding": encoding})
    assert (status, answer["error"]["code"]) == (400, "malformed_body"), answer
    assert changed == []
    assert (await api.call("GET", "/api/v1/tokens"))[1] == tokens


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_body_is_read(rockd, encoding):
    api = (await rockd()).api
    body = gzip.compress(TOKEN) if encoding == "gzip" else zlib.compress(TOKEN)
    status, answer = await api.call("POST", "/api/v1/tokens", raw=body,
                                    headers={"Content-Encoding": encoding})
    assert status == 201, answer


def _gzip_of_zeros(size: int) -> bytes:
    """`size` zero bytes, gzipped (about a thousandth of it), made without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(size >> 20)), packer.flush()])


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) << 10
    raise AssertionError("no VmHWM")


async def test_a_gzip_bomb_is_413_without_being_inflated_in_memory(rockd):
    box = await rockd(process=True)
    bomb = _gzip_of_zeros(1 << 30)
    assert len(bomb) < 1 << 20  # under --max-body as sent
    before = _peak_rss(box.proc.proc.pid)
    status, answer = await box.api.call("POST", "/api/v1/tokens", raw=bomb,
                                        headers={"Content-Encoding": "gzip"})
    assert (status, answer["error"]["code"]) == (413, "payload_too_large"), answer
    assert _peak_rss(box.proc.proc.pid) - before < 32 << 20


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_a_gzip_bomb_costs_no_inflating_where_the_body_is_not_read(rockd):
    """A compressed body is inflated only by a route that reads it, and only up to the limit:
    bombs sent without credentials (answered 401 without reading the body) cost the daemon
    next to no CPU, where each cost it about a second of inflating while it drained them."""
    box = await rockd(process=True, login=False)
    bomb = _gzip_of_zeros(1 << 30)
    anonymous = box.api
    before = _cpu_seconds(box.proc.proc.pid)
    for _ in range(4):
        status, answer = await anonymous.call("POST", "/api/v1/pools", raw=bomb,
                                              headers={"Content-Encoding": "gzip"})
        assert (status, answer["error"]["code"]) == (401, "unauthorized"), answer
    spent = _cpu_seconds(box.proc.proc.pid) - before
    assert spent < 0.5, f"{spent:.2f} CPU-seconds for 4 unread bombs"
