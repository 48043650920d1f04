"""HTTPS: the certificate rockd serves, made or uploaded, and the live SSL context.

Imports core and config only."""
