"""Supervised long-running work (balance, scrub, device removal) with progress and schedules.

May import rockd.core and rockd.storage.
"""
