"""Alerts on a real rockd: a raid1 pool on loop disks loses one (detached by hand), and a real
SMTP server (STARTTLS, AUTH) and a webhook receiver hear of it within 5 s; a replace clears
it; a flapping condition sends one mail and one digest; the test endpoint reports each
channel."""

from __future__ import annotations

import asyncio
import hmac
import os
import subprocess
import time
from pathlib import Path

from rockd.alerts.delivery import SIGNATURE_HEADER, sign
from tests.support.alerting import USER, Receiver, SmtpServer, text_of
from tests.support.rig import wait_for

SECRET = "hook-secret"


def alerts_of(box, kind: str) -> list[dict]:
    return [a for a in (box.daemon.tree.get("/alerts") or {}).values() if a["kind"] == kind]


async def test_a_lost_disk_mails_and_posts_within_5s_and_a_replace_clears_it(
        rockd, loops, tmp_path, monkeypatch):
    with SmtpServer(tmp_path) as smtp:
        monkeypatch.setenv("SSL_CERT_FILE", str(smtp.cert))  # rockd trusts the test's CA
        async with Receiver() as hook:
            box = await rockd(devices=3, alert_window=2.0)
            api = box.api
            status, pool = await api.call("POST", "/api/v1/pools", {
                "name": "tank", "disks": box.disks[:2], "data": "raid1"})
            assert status == 201, pool
            status, shown = await api.call("PUT", "/api/v1/alerts/settings", {
                "email": smtp.settings(), "webhooks": [{"url": hook.url, "secret": SECRET}]})
            assert status == 200, shown
            assert "password" not in shown["email"] and shown["email"]["username"] == USER
            assert shown["webhooks"] == [{"url": hook.url, "signed": True}]
            # saved again without the secrets (as the form does): both are kept
            email = {k: v for k, v in smtp.settings().items() if k != "password"}
            status, again = await api.call("PUT", "/api/v1/alerts/settings", {
                "email": email, "webhooks": [{"url": hook.url}]})
            assert (status, again) == (200, shown)
            status, got = await api.call("GET", "/api/v1/alerts/settings")
            assert (status, got) == (200, shown)

            status, result = await api.call("POST", "/api/v1/alerts/test")
            assert (status, result) == (200, {"email": {"ok": True},
                                              "webhooks": [{"url": hook.url, "ok": True}]})
            assert smtp.mailbox.logins == [USER]  # AUTH, after STARTTLS (aiosmtpd requires it)
            mails, posts = len(smtp.mailbox.received()), len(hook.posts)

            url = f"/api/v1/pools/{pool['id']}"
            status, answer = await api.call("POST", url + "/unmount")
            assert status == 200, answer
            lost = box.devices[1]
            start = time.monotonic()
            loops.detach(lost)
            await wait_for(lambda: len(smtp.mailbox.received()) > mails, timeout=5)
            await wait_for(lambda: len(hook.posts) > posts, timeout=5)
            arrived, message = smtp.mailbox.received()[mails]
            assert arrived - start < 5.0
            text = text_of(message)
            assert "tank" in text and lost in text and "replace" in text.lower(), text
            assert "CRITICAL" in message["Subject"]

            at, headers, raw, payload = hook.posts[posts]
            assert at - start < 5.0
            assert hmac.compare_digest(headers[SIGNATURE_HEADER], sign(SECRET, raw))
            assert payload["event"] == "raised"
            (alert,) = [c["alert"] for c in payload["changes"]]
            assert (alert["kind"], alert["subject"]) == ("pool_degraded", f"/pools/{pool['id']}")

            shown_alert = box.daemon.tree.get(f"/alerts/{alert['id']}")
            assert shown_alert["cleared"] is None and shown_alert["severity"] == "critical"
            status, listed = await api.call("GET", "/api/v1/alerts")
            assert status == 200 and alert["id"] in [a["id"] for a in listed]
            status, acked = await api.call("POST", f"/api/v1/alerts/{alert['id']}/acknowledge")
            assert status == 200 and acked["acknowledged"] is True

            # mounted degraded, the lost device replaced by the third disk: cleared
            status, answer = await api.call("POST", url + "/mount", {"degraded": True})
            assert status == 200, answer
            status, answer = await api.call("POST", url + "/disks", {
                "replace": {"old": "devid:2", "new": box.disks[2]}})
            assert status == 202, answer
            job = await api.ended_job(answer["job"]["id"])
            assert job["state"] == "succeeded", job
            await wait_for(lambda: box.daemon.tree.get(f"/alerts/{alert['id']}/cleared"),
                           timeout=10)
            assert alerts_of(box, "pool_degraded") == [box.daemon.tree.get(
                f"/alerts/{alert['id']}")]  # no second alert for the same pool
            # the clearing goes out too (at once, or in the digest at the window's end)
            await wait_for(lambda: any("cleared" in text_of(m).lower() for _, m in
                                       smtp.mailbox.received()[mails + 1:]), timeout=10)


async def _fill(box, pool: dict, megabytes: int) -> None:
    """Write a file and wait until the tree shows the pool's usage grown (watched: sampled)."""
    ws = await box.api.stream()
    await ws.send_str(f'{{"id": 1, "type": "subscribe", "path": "/pools/{pool["id"]}/usage"}}')
    with open(Path(pool["mount_point"]) / "blob", "wb") as f:
        f.write(os.urandom(megabytes << 20))
    subprocess.run(["sync"], check=True)
    await wait_for(lambda: (box.daemon.tree.get(f"/pools/{pool['id']}/usage/stored") or 0)
                   > megabytes << 19, timeout=10)
    await ws.close()


async def test_a_flapping_condition_sends_one_mail_and_one_digest(rockd):
    with SmtpServer() as smtp:
        box = await rockd(devices=1, pool="single", alert_window=3.0)
        await _fill(box, box.pool, 96)
        email = smtp.settings()
        hook = await box.rig.stack.enter_async_context(Receiver(fail_first=1))

        async def thresholds(low: int) -> None:
            status, answer = await box.api.call("PUT", "/api/v1/alerts/settings", {
                "email": email, "webhooks": [{"url": hook.url}],
                "pool_used_percent": [low, 99]})
            assert status == 200, answer

        start = time.monotonic()
        for _ in range(3):  # raised, cleared, raised, cleared, raised, cleared
            await thresholds(5)
            await wait_for(lambda: any(not a["cleared"] for a in alerts_of(box, "pool_full")))
            await thresholds(90)
            await wait_for(lambda: all(a["cleared"] for a in alerts_of(box, "pool_full")))
        assert time.monotonic() - start < 3.0, "the flapping outlasted the window"
        await wait_for(lambda: len(smtp.mailbox.received()) >= 2, timeout=6)
        first, digest = [m for _, m in smtp.mailbox.received()]
        assert "WARNING" in first["Subject"] and "full" in text_of(first)
        assert "digest: 5 alert changes" in digest["Subject"], digest["Subject"]
        assert text_of(digest).count("CLEARED") == 3
        await asyncio.sleep(1)
        assert len(smtp.mailbox.received()) == 2  # nothing more after the digest
        # the webhook: its first POST refused (503) and tried again a second later, then
        # the digest
        assert [(p[3]["event"], len(p[3]["changes"])) for p in hook.posts] == [
            ("raised", 1), ("digest", 5)]
        assert hook.posts[0][0] - start >= 1.0


async def test_the_test_endpoint_reports_each_channel_and_refuses_bad_settings(rockd):
    box = await rockd()
    api = box.api
    status, result = await api.call("POST", "/api/v1/alerts/test")
    assert status == 200 and result["email"]["ok"] is False and result["webhooks"] == []
    with SmtpServer() as smtp:
        async with Receiver() as hook, Receiver() as flaky:
            flaky.fail_first = 1  # the test message is tried once: a failure is reported
            settings = {"email": {**smtp.settings(), "port": smtp.port + 1},
                        "webhooks": [{"url": hook.url}, {"url": flaky.url}]}
            status, shown = await api.call("PUT", "/api/v1/alerts/settings", settings)
            assert status == 200, shown
            status, result = await api.call("POST", "/api/v1/alerts/test")
            assert status == 200
            assert result["email"]["ok"] is False and str(smtp.port + 1) in \
                result["email"]["error"]
            assert result["webhooks"] == [
                {"url": hook.url, "ok": True},
                {"url": flaky.url, "ok": False, "error": result["webhooks"][1]["error"]}]
            assert "503" in result["webhooks"][1]["error"]
            assert SIGNATURE_HEADER not in hook.posts[0][1]  # no secret: not signed
            assert hook.posts[0][3]["event"] == "test"
    for bad in ({"pool_used_percent": [95, 80]}, {"email": {"host": "x"}},
                {"webhooks": [{"url": "ftp://x"}]}, {"email": {**settings["email"],
                                                               "to": ["not an address"]}}):
        status, answer = await api.call("PUT", "/api/v1/alerts/settings", bad)
        assert status == 400, (bad, answer)
    status, kept = await api.call("GET", "/api/v1/alerts/settings")
    assert kept == shown  # refused: nothing changed
    status, answer = await api.call("POST", "/api/v1/alerts/nope/acknowledge")
    assert status == 404


async def test_an_alert_outlives_a_restart_and_is_not_sent_again(rockd):
    with SmtpServer() as smtp:
        box = await rockd(devices=1, pool="single")
        await _fill(box, box.pool, 96)
        status, shown = await box.api.call("PUT", "/api/v1/alerts/settings", {
            "email": smtp.settings(), "pool_used_percent": [5, 99]})
        assert status == 200, shown
        await wait_for(lambda: smtp.mailbox.received())
        (alert,) = alerts_of(box, "pool_full")
        await box.restart()
        await wait_for(lambda: box.daemon.tree.get(f"/pools/{box.pool['id']}/usage"))
        await asyncio.sleep(1)  # every rule has run again at start
        assert alerts_of(box, "pool_full") == [alert]  # the same alert, still active
        assert len(smtp.mailbox.received()) == 1  # and not sent again
        status, kept = await box.api.call("GET", "/api/v1/alerts/settings")
        assert (status, kept) == (200, shown)
