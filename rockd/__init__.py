"""rockd: a NAS manager for Linux storage boxes, one asyncio daemon with a live web UI."""

__version__ = "0.1.0"
