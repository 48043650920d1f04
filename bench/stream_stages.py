"""The loaded rockd of the stream benchmarks, timing where each change's latency goes.

    python bench/stream_stages.py --stages-out FILE --listen 127.0.0.1:PORT --state-dir DIR

Runs tests/support/loaded.py as it is, with two hooks that only read the time: when the bus
releases a revision (the journal has committed it) and when a flush writes it to the live
subscribers. Each bench change carries the time it was made ("t"), so at exit FILE gets
p50/p99 (ms) of change → release (the journal's share) and change → write (the journal's and
the stream's), for bench/stream_ratio.py --stages.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rockd.core import bus, fanout  # noqa: E402
from tests.support import loaded  # noqa: E402

STAMP = re.compile(rb'/t","value":(\d+)')


def quantiles(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    values.sort()
    return {"n": len(values), "p50_ms": round(values[len(values) // 2], 2),
            "p99_ms": round(values[int(len(values) * 0.99) - 1], 2)}


def hook(out: Path) -> None:
    released: list[float] = []
    written: list[float] = []
    release, flush = bus.Bus._release, fanout.Group.flush

    def timed_release(self: bus.Bus, revision: Any) -> None:
        now = time.time_ns()
        released.extend((now - int(t)) / 1e6 for op in revision.ops
                        for t in STAMP.findall(op.wire))
        release(self, revision)

    def timed_flush(self: fanout.Group) -> None:
        now = time.time_ns()
        if self.live:
            written.extend((now - int(t)) / 1e6 for _, fragment in self.pending
                           for t in STAMP.findall(fragment))
        flush(self)

    bus.Bus._release = timed_release  # type: ignore[method-assign]
    fanout.Group.flush = timed_flush  # type: ignore[method-assign]

    def dump() -> None:
        out.write_text(json.dumps({"change_to_release": quantiles(released),
                                   "change_to_write": quantiles(written)}))

    atexit.register(dump)


def main() -> int:
    args = sys.argv[1:]
    at = args.index("--stages-out")
    out = Path(args[at + 1])
    del args[at : at + 2]
    sys.argv = [sys.argv[0], *args]
    hook(out)
    return asyncio.run(loaded.main())


if __name__ == "__main__":
    sys.exit(main())
