"""Rock-ons: containerised apps installed beside the shares, through the Docker engine's API.

definitions.py  the catalog: the definition format (pydantic, a JSON schema), reading folders
engine.py       the engine's API over its socket (aiodocker): pull, containers, networks, events
apps.py         `Apps`: /apps/{name} and /apps-engine in the tree, intent, observation, verbs
choices.py      what the user chose (shares, host ports, values), checked; ports probed
containers.py   container and network names, the engine's create-container body
operations.py   start/stop/remove an app's containers in order; what an install left behind
view.py         what /apps/{name} shows, from the record and the engine's descriptions
jobs.py         the install, update and uninstall job kinds, each rolled back on failure
catalog/        the built-in definitions (catalog/README.md documents the format)

Import rule: rockd.core, rockd.config, rockd.storage, rockd.jobs and rockd.watchers only.
Shares are reached through the state tree (their ids and paths), and `Apps` is a ShareReferrer
(rockd.storage.shares). Wired by app.py: `Apps(tree, store, jobs, settings, inotify)`, its
job kinds (`jobs.kinds(apps)`) registered and `shares.refer(apps)`; `load()` in the parts,
`start()` once the shares are seen, `stop()` after the jobs have stopped.
"""
