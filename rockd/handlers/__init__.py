"""aiohttp handlers: one module per resource, the stream, and the web UI's shell.

May import rockd.core, rockd.config and the layers that own resources (rockd.storage,
rockd.jobs). Never runs a command itself: it asks the layer that owns the resource to act,
then answers from the state tree.
"""
