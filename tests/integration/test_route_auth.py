"""Every route of the served OpenAPI document, asked without credentials, with a read-only
token and with a session cookie but no CSRF header: each is refused before it does anything.

The list comes from the document itself, so a route added later is covered without a word
here; the document is checked to name every route the server has in test_openapi.py.
"""

from __future__ import annotations

import re

import orjson

from tests.support.changes import changes
from tests.support.client import Api

WRITES = ("post", "put", "patch", "delete")


async def _operations(api: Api) -> list[tuple[str, str, bool]]:
    """(METHOD, concrete path, public) for every operation of the served document."""
    status, document = await api.call("GET", "/api/v1/openapi.json")
    assert status == 200, document
    operations = []
    for template, ops in document["paths"].items():
        path = re.sub(r"{\w+}", "x", template)
        for method, op in ops.items():
            operations.append((method.upper(), path, op.get("security") == []))
    return operations


async def _answers(client: Api, operations, headers: dict | None = None
                   ) -> dict[tuple[str, str], tuple[int, str | None]]:
    """Each operation's status and error code, with an empty object as the body of writes."""
    answers = {}
    for method, path, _public in operations:
        raw = orjson.dumps({}) if method.lower() in WRITES else None
        async with client.session.request(method, client.base + path, data=raw,
                                          headers={**client.headers(method),
                                                   **(headers or {})}) as response:
            text = await response.read()
        try:
            code = orjson.loads(text)["error"]["code"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            code = None
        answers[method, path] = (response.status, code)
    return answers


async def started(rockd):
    """A rockd, signed in to, and every operation of its document (the whole API)."""
    box = await rockd()
    found = await _operations(box.api)
    assert len(found) > 100  # the whole API, not a part of it
    return box, found


async def test_every_route_needs_credentials(rockd):
    box, operations = await started(rockd)
    anonymous = box.client()
    changed = changes(box.daemon)
    answers = await _answers(anonymous, [op for op in operations if not op[2]])
    wrong = {op: got for op, got in answers.items() if got != (401, "unauthorized")}
    assert wrong == {}
    assert changed == []


async def test_every_write_is_refused_to_a_read_only_token(rockd):
    box, operations = await started(rockd)
    reader = box.client(token=await box.api.make_token(["read"], "reader"))
    changed = changes(box.daemon)
    writes = [op for op in operations if op[0].lower() in WRITES and not op[2]]
    answers = await _answers(reader, writes)
    assert len(writes) > 50
    wrong = {op: got for op, got in answers.items() if got != (403, "insufficient_scope")}
    assert wrong == {}
    assert changed == []


async def test_every_cookie_write_needs_the_csrf_header(rockd):
    box, operations = await started(rockd)
    daemon, api = box.daemon, box.api
    writes = [op for op in operations if op[0].lower() in WRITES and not op[2]]
    csrf, api.csrf = api.csrf, ""  # the session's cookie, without its header
    changed = changes(daemon)
    try:
        answers = await _answers(api, writes)
        wrong = csrf[:-1] + ("B" if csrf.endswith("A") else "A")  # never the right one
        wrong_header = await _answers(api, writes, {"X-CSRF-Token": wrong})
    finally:
        api.csrf = csrf
    assert {op: got for op, got in answers.items() if got != (403, "csrf_failed")} == {}
    assert {op: got for op, got in wrong_header.items() if got != (403, "csrf_failed")} == {}
    assert changed == []
