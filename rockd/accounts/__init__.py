"""Unix users and groups: the rules (rules.py), the account's home and keys (homes.py), /users
and /groups observed from the account databases (observe.py), and the actions through the shadow
tools (users.py).

May import rockd.core, rockd.config and rockd.watchers only. Passwords go to commands through
stdin only, and are never kept, logged or answered.
"""
