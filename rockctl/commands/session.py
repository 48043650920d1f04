"""`rockctl login`: sign in once with a password, keep an API token in the config file."""

from __future__ import annotations

import argparse
import getpass
import re
import socket
import sys
from dataclasses import replace

from rockctl.client import Client
from rockctl.commands import Out, Usage, arg, command, name_arg
from rockctl.config import save
from rockctl.openapi import use


def _default_name() -> str:
    """rockctl-HOST, as a token name may be."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())
    return f"rockctl-{host}"[:64]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise Usage("no terminal to ask for the password on: give it with --password-stdin")
    return getpass.getpass("password: ")


@command("login", "sign in with a password and keep a new API token in the config file "
         "(mode 0600)",
         uses=[use("post", "/api/v1/auth/login", body=["username", "password"]),
               use("post", "/api/v1/tokens", body=["name", "scopes"]),
               use("post", "/api/v1/auth/logout")],
         args=[arg("--user", type=name_arg, default="admin", help="the user (admin)"),
               arg("--password-stdin", action="store_true",
                   help="read the password from standard input"),
               arg("--read-only", action="store_true", help="a token that can only read"),
               arg("--token-name", type=name_arg, default=_default_name(),
                   help="the token's name, as listed in the web UI")],
         writes_config=True)
async def login(client: Client, args: argparse.Namespace) -> Out:
    password = _password(args.password_stdin)
    client.config = replace(client.config, token=None)  # signed in by the session instead
    session = await client.call("POST", "/api/v1/auth/login",
                                {"username": args.user, "password": password})
    csrf = {"X-CSRF-Token": session["csrf"]}
    scopes = ["read"] if args.read_only else ["read", "write"]
    try:
        made = await client.call("POST", "/api/v1/tokens",
                                 {"name": args.token_name, "scopes": scopes}, headers=csrf)
    finally:
        await client.call("POST", "/api/v1/auth/logout", headers=csrf)
    path = save(replace(client.config, token=made["token"]))
    return Out({"token_id": made["id"], "name": made["name"], "scopes": made["scopes"],
                "config": str(path)},
               text=f"signed in as {args.user}; token {made['name']} ({made['id']}) "
                    f"kept in {path}")
