"""The login throttle: attempts counted as they start, per client (an IPv6 client by its /64),
in a table that many addresses cannot grow without bound."""

from __future__ import annotations

import ipaddress

import pytest

from rockd.core.auth import LoginThrottle, client_key
from rockd.core.errors import TooManyRequests


def _attempts(throttle: LoginThrottle, address: str, count: int) -> list[float | str]:
    answers: list[float | str] = []
    for _ in range(count):
        try:
            answers.append(throttle.attempt(address))
        except TooManyRequests:
            answers.append("429")
    return answers


def test_attempts_are_free_then_slowed_then_refused_and_a_success_clears_them():
    throttle = LoginThrottle()
    assert _attempts(throttle, "192.0.2.1", 12) == [0.0] * 5 + [0.5] * 5 + ["429"] * 2
    assert _attempts(throttle, "192.0.2.2", 1) == [0.0]  # another client is not throttled
    throttle.succeeded("192.0.2.1")
    assert _attempts(throttle, "192.0.2.1", 1) == [0.0]


def test_an_ipv6_client_is_counted_by_its_64():
    throttle = LoginThrottle()
    network = ipaddress.IPv6Network("2001:db8:1:2::/64")
    answers = [_attempts(throttle, str(network[n * 7919 + 1]), 1)[0] for n in range(12)]
    assert answers[10:] == ["429", "429"]
    assert _attempts(throttle, "2001:db8:1:3::1", 1) == [0.0]  # the next /64
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("fe80::1%eth0") == "fe80::/64"
    assert client_key("") == ""


@pytest.mark.parametrize("kind", ["ipv4", "ipv6"])
def test_many_clients_do_not_grow_the_table_without_bound(kind):
    throttle = LoginThrottle(clients=1000)
    for n in range(20_000):
        address = (str(ipaddress.IPv4Address(0x0A000000 + n)) if kind == "ipv4"
                   else str(ipaddress.IPv6Address((0x20010DB8 << 96) + (n << 64))))
        throttle.attempt(address)
    assert len(throttle) == 1000
    # the latest clients are still counted
    assert _attempts(throttle, address, 10)[-1] == "429"
