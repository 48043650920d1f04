"""Disks and btrfs: commands (argv lists only), parsers, probes and actions.

May import rockd.core and rockd.config; pools.py, which hands long work to jobs, also imports
rockd.jobs. Probes (btrfs.py, roottree.py, smart.py, disks.py) return plain JSON values; each
inventory sets its own subtree from them with tree.set, the one way observed state changes.
"""
