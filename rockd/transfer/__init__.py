"""Replication between rockd instances: btrfs send/receive over ZeroMQ (CurveZMQ for requests,
AES-256-GCM for the data).

May import rockd.core, rockd.storage (probes, commands, and the Pools and Shares it is handed)
and rockd.jobs (the supervisor, cron and retention). Nothing outside it imports it but the app
and handlers/replication.py.
"""
