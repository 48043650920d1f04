"""The UPS through NUT (Network UPS Tools): NUT's configuration, its driver, upsd and upsmon
as rockd's children, the USB list, /ups in the tree, and the shutdown on a power failure.

Imports core, config and watchers only; the shutdown itself is a `Protocol` (`Shutdown`) that
app.py wires to the host's power.
"""
