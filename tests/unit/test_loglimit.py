"""LimitedLog: a few lines a period in full, the rest told in one summary line."""

from __future__ import annotations

import asyncio
import logging
import time

from rockd.core.loglimit import LimitedLog

LOGGER = "rockd.test.loglimit"


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


async def test_a_flood_is_a_few_lines_and_a_summary_at_the_end_of_the_period(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    limited = LimitedLog(logging.getLogger(LOGGER), logging.INFO, "knocks", burst=2,
                         every=0.2)
    for n in range(1000):
        limited("knock %d", n)
    assert _lines(caplog) == ["knock 0", "knock 1"]
    await asyncio.sleep(0.3)  # the period ends, with no further line to wait for
    assert _lines(caplog)[2:] == ["knocks: 998 more in the last 0.2 s, not logged one by one"]
    limited("knock %d", 1000)  # a new period
    assert _lines(caplog)[3:] == ["knock 1000"]


def test_without_an_event_loop_the_summary_comes_with_the_next_period(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    limited = LimitedLog(logging.getLogger(LOGGER), logging.INFO, "knocks", burst=1,
                         every=0.05)
    for n in range(5):
        limited("knock %d", n)
    assert _lines(caplog) == ["knock 0"]
    time.sleep(0.1)
    limited("knock %d", 5)
    assert _lines(caplog)[1:] == ["knocks: 4 more in the last 0.05 s, not logged one by one",
                                  "knock 5"]
