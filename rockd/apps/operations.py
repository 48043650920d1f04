"""What is done to an app's containers in the engine, in the app's order: described, started,
stopped or restarted, removed with the app's network; and the containers an interrupted
install left, found and removed.

No state: the engine, the app's name and definition and this rockd's instance are given. The
engine's errors (EngineError, EngineDown) go to the caller.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from rockd.apps.containers import container_name, labels, network_name
from rockd.apps.definitions import Definition
from rockd.apps.engine import LABEL_APP, LABEL_INSTANCE, Engine, EngineDown, EngineError

log = logging.getLogger(__name__)

STOP_SECONDS = 10


async def describe(engine: Engine, name: str, instance: str) -> list[dict[str, Any]] | None:
    """The engine's full description of each container of the app; None when the engine
    cannot say (it is away, or refused: logged)."""
    try:
        summaries = await engine.containers(labels(name, instance))
        return [d for d in [await engine.inspect(s["Id"]) for s in summaries] if d is not None]
    except EngineDown:
        return None  # the watcher sees the same and reports it
    except EngineError as exc:
        log.warning("cannot inspect app %s: %s", name, exc)
        return None


async def act(engine: Engine, name: str, definition: Definition, verb: str) -> None:
    """start, stop or restart every container of the app, in order (stop: in reverse)."""
    order = definition.ordered()
    if verb == "stop":
        order = list(reversed(order))
    for spec in order:
        docker_name = container_name(name, spec.name)
        if verb == "start":
            await engine.start(docker_name)
        elif verb == "stop":
            await engine.stop(docker_name, STOP_SECONDS)
        else:
            await engine.restart(docker_name, STOP_SECONDS)


async def remove(engine: Engine, name: str, instance: str, definition: Definition | None,
                 graceful: bool = True) -> None:
    """Stop (in reverse start order) and remove every container of the app, and its
    network. The shares mapped into them are not touched."""
    ordered = ([container_name(name, c.name) for c in reversed(definition.ordered())]
               if definition is not None else [])
    found = await engine.containers(labels(name, instance))
    names = [n.lstrip("/") for c in found for n in (c.get("Names") or [])[:1]]
    for docker_name in [n for n in ordered if n in names] + [n for n in names
                                                               if n not in ordered]:
        if graceful:
            await engine.stop(docker_name, STOP_SECONDS)
        await engine.remove(docker_name)
    await engine.remove_network(network_name(name))


async def remove_leftovers(engine: Engine, instance: str,
                           installed: Callable[[str], bool]) -> bool:
    """Remove this rockd's containers (and networks) of apps that are not `installed`: what
    an install interrupted by a crash left. Another rockd's containers are not touched.
    Answers False when the engine could not list them (logged)."""
    try:
        ours = await engine.containers({LABEL_INSTANCE: instance})
    except EngineError as exc:
        log.warning("cannot list the engine's containers: %s", exc)
        return False
    for summary in ours:
        app = (summary.get("Labels") or {}).get(LABEL_APP, "")
        if installed(app):
            continue
        log.warning("removing container %s of app %s, which is not installed (left by an "
                    "interrupted install)", (summary.get("Names") or ["?"])[0], app)
        with contextlib.suppress(EngineError):
            await engine.remove(summary["Id"])
        with contextlib.suppress(EngineError):
            await engine.remove_network(network_name(app))
    return True
