"""The network through NetworkManager's D-Bus API: interfaces, connections, and changes applied
under a rollback checkpoint. Imports core, config and watchers."""
