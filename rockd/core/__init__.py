"""The machinery of rockd: state tree, bus, journal, auth, errors.

Imports nothing of rockd outside itself and knows nothing of btrfs.
"""
