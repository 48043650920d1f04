"""Disks and btrfs: commands (argv lists only), parsers, probes and actions.

May import rockd.core and rockd.config. Probes return plain JSON values; each inventory sets
its own subtree from them with tree.set, the one way observed state changes.
"""
