"""`rockctl watch PATH`: follow a subtree of the state tree over the websocket stream.

It subscribes to PATH, prints the snapshot the server answers, then every change as it comes:
one readable line per JSON Patch op, or with --json one JSON object per line (JSON Lines). A
lost connection is resumed from the last revision seen (`since`, with the epoch), so nothing
is missed or printed twice.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import aiohttp
import orjson

from rockctl.client import ApiError, Client, Unreachable
from rockctl.output import print_line

RETRIES = 5
"""Reconnections tried, a second apart and more, before a lost stream is an error."""
SHORT = 200
"""Characters of a value shown in a readable line on a terminal."""


def refused(message: dict[str, Any]) -> ApiError:
    """The stream's `error` message as an error."""
    error = message.get("error") or {}
    return ApiError(400, error.get("code", "error"), error.get("message", "refused"))


class Follower:
    """Where a watch stands: the last revision and epoch, and how it prints."""

    def __init__(self, path: str, as_json: bool):
        self.path, self.as_json = path, as_json
        self.rev: int | None = None
        self.epoch: str | None = None
        self.terminal = sys.stdout.isatty()

    def subscribe_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"id": 1, "type": "subscribe", "path": self.path}
        if self.rev is not None:
            message |= {"since": self.rev, "epoch": self.epoch}
        return message

    def take(self, message: dict[str, Any]) -> None:
        """Print what one server message says; ApiError for an error message."""
        kind = message.get("type")
        if kind == "error":
            raise refused(message)
        if kind == "snapshot":
            self.rev, self.epoch = message["rev"], message.get("epoch")
            self._show({"type": "snapshot", "rev": self.rev, "path": self.path,
                        "value": message.get("value")})
        elif kind == "patch":
            self.rev = message["rev"]
            for op in message.get("ops", []):
                self._show({"type": "patch", "rev": self.rev, **op})

    def _show(self, change: dict[str, Any]) -> None:
        if self.as_json:
            print_line(change)
            return
        kind = change["type"] if change["type"] == "snapshot" else change["op"]
        line = f"{time.strftime('%H:%M:%S')} rev {change['rev']} {kind} {change['path']}"
        if "value" in change:
            value = orjson.dumps(change["value"]).decode()
            if self.terminal and len(value) > SHORT:
                value = value[:SHORT] + "…"
            line += f" {value}"
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


async def _follow(client: Client, follower: Follower) -> None:
    """Follow until the connection ends (returns) or the server refuses (ApiError)."""
    ws = await client.stream()
    try:
        await ws.send_str(orjson.dumps(follower.subscribe_message()).decode())
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                follower.take(orjson.loads(msg.data))
            elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                break
    finally:
        await ws.close()


async def watch(client: Client, path: str, as_json: bool) -> None:
    """Follow `path` until interrupted; Unreachable once the stream cannot be resumed."""
    follower = Follower(path, as_json)
    failures = 0
    while True:
        try:
            seen = follower.rev
            await _follow(client, follower)
            reason = "the stream was closed"
        except Unreachable as exc:
            reason = str(exc)
        failures = 0 if follower.rev != seen else failures + 1
        if failures >= RETRIES:
            raise Unreachable(f"{reason}; gave up after {RETRIES} tries")
        print(f"rockctl: {reason}; resuming", file=sys.stderr)
        await asyncio.sleep(min(2 ** failures, 10))


ENDED = ("succeeded", "failed", "cancelled")


def job_state(job_id: str, message: dict[str, Any]) -> str | None:
    """The state a stream message gives job `job_id`, if it gives one."""
    if message.get("type") == "snapshot":
        return (message.get("value") or {}).get("state")
    state = None
    for op in message.get("ops", []) if message.get("type") == "patch" else []:
        if op["path"] == f"/jobs/{job_id}/state":
            state = op.get("value")
        elif op["path"] == f"/jobs/{job_id}" and isinstance(op.get("value"), dict):
            state = op["value"].get("state")
    return state


async def wait_for_job(client: Client, job_id: str) -> dict[str, Any]:
    """The job once it has ended, followed on the stream (no polling): its entry as
    `GET /api/v1/jobs/{id}` answers it then."""
    ws = await client.stream()
    try:
        await ws.send_str(orjson.dumps({"id": 1, "type": "subscribe",
                                        "path": f"/jobs/{job_id}"}).decode())
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            message = orjson.loads(msg.data)
            if message.get("type") == "error":
                raise refused(message)
            if job_state(job_id, message) in ENDED:
                job: dict[str, Any] = await client.call("GET", f"/api/v1/jobs/{job_id}")
                return job
    finally:
        await ws.close()
    raise Unreachable(f"the stream ended before job {job_id} did")
