"""rockctl: the command-line client of rockd's REST API and state stream.

A client only: it talks HTTP and the websocket to a rockd and imports nothing of the daemon.
`config` finds the address and token, `client` makes the calls, `openapi` checks them against
the served OpenAPI document, `commands` holds the nouns and verbs, `output` prints tables or
JSON, `watch` follows the stream and `cli` is the command line.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rockd")  # the distribution rockctl ships in, beside the daemon
except PackageNotFoundError:
    __version__ = "unknown"
