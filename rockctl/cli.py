"""The `rockctl` command line: the parser built from the command table, and exit codes.

Exit codes: 0 done, 1 rockd answered an error (or could not be reached, or a name was not
found), 2 the command was given wrongly (argparse's own code), or its configuration cannot be
used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

import orjson
import shtab

import rockctl.commands.session
import rockctl.commands.storage
import rockctl.commands.system  # noqa: F401 (their commands register themselves)
from rockctl import __version__, openapi
from rockctl.client import ApiError, Client, Unreachable
from rockctl.commands import COMMANDS, Command, Failed, NotFound, Usage
from rockctl.config import ConfigError, config_path, load
from rockctl.output import field, print_json, print_table
from rockctl.watch import watch

OK, API_ERROR, USAGE = 0, 1, 2
SHELLS = ("bash", "zsh", "tcsh")


def _options(parser: argparse.ArgumentParser, default: Any) -> None:
    """The options every command takes, before or after its words."""
    parser.add_argument("--url", default=default,
                        help="rockd's address (else $ROCKCTL_URL, the config file, "
                             "http://127.0.0.1:8470)")
    parser.add_argument("--token", default=default,
                        help="an API token (better: $ROCKCTL_TOKEN or the config file, "
                             "which other users cannot read)")
    ca = parser.add_argument("--ca", default=default, help="a CA certificate to trust for https")
    ca.complete = shtab.FILE  # type: ignore[attr-defined]  # shtab reads it
    parser.add_argument("--json", action="store_true", default=default,
                        help="print JSON (sizes in bytes) instead of a table")


def _leaf(subparsers: Any, name: str, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help, description=help)
    _options(parser, argparse.SUPPRESS)
    return parser


def parser() -> argparse.ArgumentParser:
    """rockctl's parser: the command table's nouns and verbs, and api, watch, completion."""
    top = argparse.ArgumentParser(
        prog="rockctl", description="The command-line client of rockd's REST API and stream. "
        f"Reads url and token from {config_path()} (mode 0600).")
    top.add_argument("--version", action="version", version=f"rockctl {__version__}")
    _options(top, None)
    nouns = top.add_subparsers(dest="noun", metavar="COMMAND", required=True)
    verbs: dict[str, Any] = {}
    for command in COMMANDS:
        noun, *verb = command.words
        if verb:
            if noun not in verbs:
                group = nouns.add_parser(noun, help=f"{noun} commands: "
                                         + ", ".join(c.words[1] for c in COMMANDS
                                                     if c.words[0] == noun and c.words[1:]))
                verbs[noun] = group.add_subparsers(dest="verb", metavar="VERB", required=True)
            leaf = _leaf(verbs[noun], verb[0], command.help)
        else:
            leaf = _leaf(nouns, noun, command.help)
        for a in command.args:
            leaf.add_argument(*a.flags, **a.options)
        leaf.set_defaults(command=command)
    _builtins(nouns)
    return top


def _builtins(nouns: Any) -> None:
    api = _leaf(nouns, "api", "call any operation of the OpenAPI document (checked against it)")
    api.add_argument("method", nargs="?", metavar="METHOD", help="GET, POST, PUT, PATCH, DELETE")
    api.add_argument("path", nargs="?", metavar="PATH", help="say /api/v1/pools?x=y")
    api.add_argument("body", nargs="?", metavar="JSON", help="the body; - reads it from stdin")
    api.add_argument("--list", action="store_true", help="list the operations instead")
    api.add_argument("--no-check", action="store_true",
                     help="send it without checking it against the document")
    api.set_defaults(builtin=_api)
    watch_ = _leaf(nouns, "watch", "print each change of a subtree as it happens (the stream)")
    watch_.add_argument("path", metavar="PATH", help="a subtree of the state: /jobs, /pools")
    watch_.set_defaults(builtin=_watch)
    check = _leaf(nouns, "openapi-check",
                  "check every command against rockd's OpenAPI document")
    check.set_defaults(builtin=_openapi_check)
    completion = _leaf(nouns, "completion", "print a shell completion script")
    completion.add_argument("shell", choices=SHELLS)
    completion.set_defaults(builtin=_completion)


async def _api(client: Client, args: argparse.Namespace) -> int:
    document = await client.call("GET", openapi.DOCUMENT)
    if args.list:
        print_table([field("0", "METHOD"), field("1", "PATH"), field("2", "SUMMARY")],
                    [dict(zip("012", op, strict=True)) for op in openapi.operations(document)])
        return OK
    if not (args.method and args.path):
        raise Usage("say METHOD PATH [JSON], or --list")
    text = sys.stdin.read() if args.body == "-" else args.body
    try:
        body = orjson.loads(text) if text is not None else None
    except orjson.JSONDecodeError as exc:
        raise Usage(f"the body is not JSON: {exc}") from None
    method = args.method.upper()
    if not args.no_check:
        try:
            openapi.validate_request(document, method, args.path, body)
        except openapi.Invalid as exc:
            raise Usage(f"{exc} (--no-check sends it as it is)") from None
    answer = await client.call(method, args.path, body)
    if isinstance(answer, str):
        sys.stdout.write(answer)
    elif answer is not None:
        print_json(answer)
    return OK


async def _watch(client: Client, args: argparse.Namespace) -> int:
    await watch(client, args.path, args.json)
    return OK


async def _openapi_check(client: Client, args: argparse.Namespace) -> int:
    document = await client.call("GET", openapi.DOCUMENT)
    problems = openapi.check(document, uses())
    for problem in problems:
        print(problem)
    if not problems:
        print(f"every operation of {len(COMMANDS)} commands is in rockd's OpenAPI document")
    return API_ERROR if problems else OK


def uses() -> list[tuple[str, openapi.Use]]:
    """Every (command, operation) of the command table."""
    return [(" ".join(c.words), u) for c in COMMANDS for u in c.uses]


def _completion(args: argparse.Namespace) -> int:
    sys.stdout.write(shtab.complete(parser(), shell=args.shell))
    return OK


async def _run(command: Command | None, args: argparse.Namespace) -> int:
    config = load(args.url, args.token, args.ca,
                  file_needed=command is None or not command.writes_config)
    async with Client(config) as client:
        if command is None:
            result: int = await args.builtin(client, args)
            return result
        (await command.run(client, args)).show(args.json)
        return OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run rockctl; answer its exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK


def _main(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    if args.noun == "completion":
        return _completion(args)
    try:
        return asyncio.run(_run(getattr(args, "command", None), args))
    except ApiError as exc:
        hint = f"; give a token in {config_path()} or $ROCKCTL_TOKEN" \
            if exc.status == 401 and args.noun != "login" else ""
        return _fail(f"{exc.message} ({exc.status} {exc.code}){hint}", API_ERROR)
    except (Unreachable, NotFound, Failed) as exc:
        return _fail(str(exc), API_ERROR)
    except (Usage, ConfigError) as exc:
        return _fail(str(exc), USAGE)
    except KeyboardInterrupt:
        return OK if args.noun == "watch" else 130


def _fail(message: str, code: int) -> int:
    print(f"rockctl: {message}", file=sys.stderr)
    return code
