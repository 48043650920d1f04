"""Replication between rockd instances: btrfs send/receive over ZeroMQ (CurveZMQ for requests,
AES-256-GCM for the data).

service.py   `Replication`: the identity, the parts put together, promotion of a replica
peers.py     paired peers (/replication/peers); presence.py: whether each answers, and the
             test connection of pairing
tasks.py     replication tasks and their cron schedule (/replication/tasks)
runs.py      a task's run and the "replicate" job; keep.py: the source's retention
sender.py    a link to one peer, and the sending of a stream under its credit
receiver.py  the receiving ports and the requests on them; gate.py: who gets in
incoming.py  one transfer being received, piped into `btrfs receive` and checked
replicas.py  replicas on the receiving box: their records and layout on disk
protocol.py  the wire protocol and its pure parts (`PeerError`, sealing, credit, names)
pipes.py     `btrfs send` and `btrfs receive` with their pipes; keys.py: the CurveZMQ keys

Import rule: rockd.core, rockd.config, rockd.storage (probes, and the Shares it is handed) and
rockd.jobs (cron, retention) only. Nothing imports it but app.py and handlers/replication.py.
"""
