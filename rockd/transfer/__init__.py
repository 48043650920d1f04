"""Replication between rockd instances: btrfs send/receive over CurveZMQ.

May import rockd.core, rockd.storage (probes, commands, and the Pools and Shares it is handed)
and rockd.jobs (the supervisor, cron and retention). Nothing outside it imports it but the app
and handlers/replication.py.
"""
