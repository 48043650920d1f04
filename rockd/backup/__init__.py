"""Settings backup and restore: one versioned JSON document of all intent (`document.py`), made
from the owners' intent (`collect.py`), restored through the owners' own methods (`restore.py`),
and written into a share on a schedule (`files.py`).

Import rule: core, config and the owners' packages (storage, jobs, watchers, accounts,
services, apps, transfer); only handlers and app.py import it.
"""
