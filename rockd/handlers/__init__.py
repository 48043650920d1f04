"""aiohttp handlers: one module per resource, the stream, and the web UI's shell.

May import every layer below it (core, config, storage, jobs, watchers, accounts, services,
apps, transfer); nothing imports it but app.py. It only translates HTTP: it validates the
request, asks the part that owns the resource to act, and answers; it never runs a command.
"""
