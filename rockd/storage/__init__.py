"""Disks and btrfs: commands (argv lists only), parsers, probes and actions.

May import rockd.core and rockd.config. Probes return plain JSON values for the tree; they
never write the tree themselves.
"""
