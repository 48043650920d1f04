"""systemd's watchdog is fed from the event loop: a loop that is stuck stops the pings (so
systemd restarts rockd), and they resume when it runs again."""

import asyncio
import itertools
import socket
import time

from rockd.notify import feed_watchdog, notify, watchdog_interval


def test_the_interval_is_half_of_what_systemd_asks_and_only_for_this_process(monkeypatch):
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None
    for value in ("0", "", "abc", "-5"):
        monkeypatch.setenv("WATCHDOG_USEC", value)
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        assert watchdog_interval() is None


async def test_a_stuck_loop_stops_the_pings(monkeypatch, tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    arrived: list[float] = []

    async def listen() -> None:
        loop = asyncio.get_running_loop()
        while True:
            if await loop.sock_recv(sock, 64) == b"WATCHDOG=1":
                arrived.append(time.monotonic())

    tasks = [asyncio.create_task(feed_watchdog(0.05)), asyncio.create_task(listen())]
    try:
        await asyncio.sleep(0.3)
        stuck = time.monotonic()
        time.sleep(0.6)  # the loop is blocked: nothing can be sent meanwhile
        await asyncio.sleep(0.3)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sock.close()
    sent = [t for t in arrived if t < stuck]
    assert len(sent) >= 3
    gaps = [b - a for a, b in itertools.pairwise(arrived)]
    assert max(gaps) >= 0.55  # the stuck loop's silence
    assert any(t > stuck + 0.6 for t in arrived)  # and it resumes


def test_a_notify_socket_gone_or_full_neither_raises_nor_blocks(monkeypatch, tmp_path):
    path = tmp_path / "notify.sock"
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    assert notify("STOPPING=1") is False  # no socket there: the stop goes on
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        began = time.monotonic()
        sent = [notify("WATCHDOG=1") for _ in range(2000)]  # never read: its queue fills
        assert sent[0] is True and sent[-1] is False
        assert time.monotonic() - began < 1.0
    finally:
        sock.close()
