"""Disks and btrfs: probes (btrfs-progs, sysfs, ioctls), the rules of what a request may say,
the inventories of /disks, /pools, /shares and /snapshots, and the actions on them.

May import rockd.core and rockd.config only. Probes return plain JSON values; each inventory
sets its own subtree from them, and tells what follows it through the Protocols declared here
(DiskFollower, PoolFollower, ShareReferrer, ShareFollower, ReplicaRecords), which app.py
wires. Long work goes to the job
supervisor in rockd.core.jobs.
"""
