"""The backup's pure parts: a scheduled backup's file name, keeping the newest N files (and
nothing else of the folder), and secrets left out of intent of other kinds at any depth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from rockd.backup.collect import without_secrets
from rockd.backup.files import file_name, prune


def test_the_file_is_named_for_the_utc_time():
    when = datetime(2026, 12, 4, 6, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    assert file_name(when) == "rockd-config-20261204T043005Z.json"


def test_prune_keeps_the_newest_backups_and_nothing_else_is_touched(tmp_path):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    names = [file_name(start + timedelta(days=d)) for d in range(4)]
    for name in [*names, "notes.txt", "rockd-config-latest.json"]:
        (tmp_path / name).write_text("{}")
    assert prune(tmp_path, 2) == names[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names[2:], "notes.txt", "rockd-config-latest.json"])
    assert prune(tmp_path, 0) == []  # 0: every one kept


def test_secrets_are_left_out_at_any_depth():
    settings = {"settings": {"email": {"host": "mail", "password": "pw", "to": ["a@b"]},
                             "webhooks": [{"url": "https://x", "secret": "s"}],
                             "token": "t"}}
    assert without_secrets(settings) == {"settings": {"email": {"host": "mail", "to": ["a@b"]},
                                                      "webhooks": [{"url": "https://x"}]}}
