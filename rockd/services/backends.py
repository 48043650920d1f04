"""Which backend runs the services: systemd over D-Bus where it is PID 1 (or asked for),
otherwise rockd itself."""

from __future__ import annotations

import os

from rockd.config import Settings
from rockd.core.store import Store
from rockd.services.supervise import SuperviseBackend
from rockd.services.units import Backend


def systemd_runs() -> bool:
    return os.path.isdir("/run/systemd/system")


def service_backend(settings: Settings, store: Store) -> Backend:
    if settings.services == "systemd" or (settings.services == "auto" and systemd_runs()):
        from rockd.services.systemd import SystemdBackend

        return SystemdBackend()
    return SuperviseBackend(settings, store)
