"""A battery of bad requests: each is a 4xx with the right code and changes nothing."""

import pytest

from tests.support.changes import changes
from tests.support.client import PASSWORD, Api

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
async def test_bad_request(daemon, api, method, path, body, status, code):
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
async def test_bad_credentials_are_401(daemon, authorization):
    client = Api(daemon.url)
    try:
        for method, path in (("GET", "/api/v1/state"), ("POST", "/api/v1/tokens"),
                             ("GET", "/api/v1/openapi.json")):
            status, body = await client.call(method, path, {"name": "t", "scopes": ["read"]},
                                             headers={"Authorization": authorization})
            assert status == 401, body
            assert body["error"]["code"] in ("bad_token", "unauthorized")
    finally:
        await client.close()


async def test_everything_but_health_setup_and_login_needs_auth(daemon):
    client = Api(daemon.url)
    try:
        assert (await client.call("GET", "/api/v1/health"))[0] == 200
        for method, path in (("GET", "/api/v1/state"), ("GET", "/api/v1/tokens"),
                             ("GET", "/api/v1/openapi.json"), ("POST", "/api/v1/auth/logout"),
                             ("GET", "/api/v1/auth/session"), ("DELETE", "/api/v1/tokens/x")):
            status, body = await client.call(method, path)
            assert status == 401, (method, path, body)
    finally:
        await client.close()
