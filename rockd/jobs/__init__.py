"""Supervised long-running work (balance, scrub, device removal) with progress and schedules.

May import rockd.core and rockd.storage's probes and commands (btrfs.py, commands.py); it
reaches pools and shares only through what its caller hands it.
"""
