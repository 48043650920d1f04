"""The Host check: what a browser sends must name this machine, so that a page that points its
own DNS name at rockd (DNS rebinding) can neither set up a fresh box nor log in."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from rockd.cli import parser, settings_from
from tests.support.client import PASSWORD, Api

EVIL = "evil.example"


def is_refused(status: int, body) -> bool:
    return status == 403 and body["error"]["code"] == "host_not_allowed"


async def get_shell(url: str, host: str) -> tuple[int, str]:
    """GET / with this Host header, as a stranger."""
    async with aiohttp.ClientSession() as session, session.get(
            url + "/", headers={"Host": host}) as response:
        return response.status, await response.text()


async def test_a_fresh_box_cannot_be_set_up_through_another_name(rockd):
    box = await rockd(process=True, admin=False)
    api = box.api
    body = {"username": "mallory", "password": PASSWORD}
    for host in (EVIL, f"{EVIL}:{box.proc.port}", f"127.0.0.1.{EVIL}"):
        status, answer = await api.call("POST", "/api/v1/setup", body, headers={"Host": host})
        assert is_refused(status, answer), (host, status, answer)  # before the fix: 201
    assert not api.session.cookie_jar.filter_cookies(box.url)
    # nothing was made: the box is still waiting for its first administrator
    status, answer = await api.call("POST", "/api/v1/setup",
                                    {"username": "admin", "password": PASSWORD})
    assert status == 201, answer


async def test_login_through_another_name_is_refused(rockd):
    box = await rockd(login=False)
    api = box.api
    status, answer = await api.call("POST", "/api/v1/auth/login",
                                    {"username": "admin", "password": PASSWORD},
                                    headers={"Host": EVIL})
    assert is_refused(status, answer), (status, answer)
    assert not api.session.cookie_jar.filter_cookies(box.url)
    status, _ = await api.call("GET", "/api/v1/auth/session")
    assert status == 401


@pytest.mark.parametrize("host", [EVIL, f"{EVIL}:8470", "LOCALHOST.evil.example",
                                  f"{socket.gethostname()}.{EVIL}", "[evil.example]:1",
                                  "127.0.0.1:80x", "::1", "[::1]x"])
async def test_the_shell_and_a_session_refuse_another_name(rockd, host):
    box = await rockd()
    api = box.api
    status, text = await get_shell(box.url, host)
    assert status == 403 and '"host_not_allowed"' in text, (status, text)
    status, answer = await api.call("GET", "/api/v1/state?path=/system",
                                    headers={"Host": host})
    assert is_refused(status, answer), (status, answer)
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await stream(api, {"Host": host})
    assert info.value.status == 403


async def stream(api: Api, headers: dict[str, str]) -> aiohttp.ClientWebSocketResponse:
    return await api.session.ws_connect(api.base + "/api/v1/stream", headers=headers)


def own_names() -> list[str]:
    hostname = socket.gethostname()
    short = hostname.split(".")[0]
    return [hostname, short, f"{short}.local", socket.getfqdn(), "localhost", "LocalHost.",
            "127.0.0.1", "10.1.2.3", "[::1]", "[fe80::1]"]


@pytest.mark.parametrize("host", own_names())
async def test_the_machine_s_own_names_and_addresses_are_answered(rockd, host):
    box = await rockd(login=False)
    daemon = box.daemon
    status, text = await get_shell(box.url, host)
    assert status == 200 and "<html" in text.lower(), (status, text)
    status, text = await get_shell(box.url, f"{host}:{daemon.settings.port}")
    assert status == 200, (status, text)


async def test_a_token_request_is_answered_whatever_its_host(rockd):
    box = await rockd()
    api = box.api
    reader = box.client(token=await api.make_token(["read"]))
    forger = box.client(token="rockd_forged")
    status, answer = await reader.call("GET", "/api/v1/state?path=/system",
                                       headers={"Host": EVIL})
    assert status == 200, answer
    ws = await stream(reader, {"Host": EVIL, **reader.headers("GET")})
    await ws.close()
    status, answer = await forger.call("GET", "/api/v1/state", headers={"Host": EVIL})
    assert status == 401, answer  # not a browser's, but no one's either


async def test_the_health_check_answers_any_host(rockd):
    box = await rockd(login=False)
    async with aiohttp.ClientSession() as session, session.get(
            box.url + "/api/v1/health", headers={"Host": EVIL}) as response:
        assert response.status == 200


async def test_allowed_hosts_adds_names(rockd):
    box = await rockd(process=True, login=False,
                      args=["--allowed-hosts", "nas.example, Other.Example.:8470"])
    for host in ("nas.example", "NAS.example:443", "other.example", "other.example."):
        status, text = await get_shell(box.url, host)
        assert status == 200, (host, status, text)
    for host in ("nas.example.evil.example", "example", EVIL):
        status, text = await get_shell(box.url, host)
        assert status == 403 and "host_not_allowed" in text, (host, status, text)


def test_allowed_hosts_from_the_command_line_and_the_config_file(tmp_path):
    config = tmp_path / "rockd.toml"
    config.write_text('allowed_hosts = ["nas.example", "nas"]\n')
    assert settings_from(parser().parse_args(
        ["serve", "--config", str(config)])).allowed_hosts == ["nas.example", "nas"]
    assert settings_from(parser().parse_args(
        ["serve", "--config", str(config), "--allowed-hosts", "a.example,b"])
    ).allowed_hosts == ["a.example", "b"]
    config.write_text('allowed-hosts = "x.example, y"\n')
    assert settings_from(parser().parse_args(
        ["serve", "--config", str(config)])).allowed_hosts == ["x.example", "y"]
    assert settings_from(parser().parse_args(
        ["demo", "--allowed-hosts", "nas.example"])).allowed_hosts == ["nas.example"]
    assert settings_from(parser().parse_args(["serve"])).allowed_hosts == []
