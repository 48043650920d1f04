"""Rock-ons: containerised apps installed beside the shares, through the Docker engine's API.

definitions.py  the catalog: the definition format (pydantic, a JSON schema), reading folders
engine.py       the engine's API over its socket (aiodocker): pull, containers, networks, events
apps.py         `Apps`: /apps/{name} and /apps-engine in the tree, intent, checks, the verbs
jobs.py         the install, update and uninstall job kinds, each rolled back on failure
catalog/        the built-in definitions (catalog/README.md documents the format)

May import rockd.core, rockd.config, rockd.jobs.supervisor and rockd.watchers.docker; it reaches
shares only through the state tree (their ids and paths) and the referrer hook that storage
offers. Wired by app.py as `Apps(tree, store, jobs, settings)`: `load()` in the parts,
`start(ctx)` once the shares are seen, `stop()` after the jobs have stopped.
"""
