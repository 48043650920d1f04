"""The machinery of rockd: the state tree and its owners, the bus, the journal, auth, errors,
the process runner, the job supervisor, request models and the tree's resource types.

Imports nothing of rockd outside itself and knows nothing of btrfs.
"""
