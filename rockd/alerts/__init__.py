"""Alerts: rules over the state tree, the engine that keeps /alerts true, and their delivery
(email, webhooks) with a rate limit and a digest.

Imports core and config only: it reads the tree and writes /alerts through its handle.
"""
