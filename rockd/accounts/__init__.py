"""Unix users and groups: observed from the account databases, changed with the shadow tools.

May import rockd.core, rockd.config, rockd.core.process and rockd.watchers. Passwords go
to commands through stdin only, and are never kept, logged or answered.
"""
