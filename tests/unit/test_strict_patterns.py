"""Every pattern that checks input or a name matches it whole and in ASCII digits: a trailing
newline, or digits of another script (which Python's \\d takes and int() reads), never pass."""

import argparse

import pytest

from rockd.cli import size
from rockd.jobs.retention import parse_duration
from rockd.jobs.schedules import AUTO_NAME
from rockd.storage.share_input import MODE
from rockd.transfer.keys import check_public_key
from rockd.transfer.protocol import TRANSFER_ID, snapshot_time

KEY = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
ARABIC_2024 = "\u0662\u0660\u0662\u0664"


def test_the_good_forms_pass():
    assert size("4G") == 4 << 30 and size("512 MiB") == 512 << 20
    assert parse_duration("12h").total_seconds() == 12 * 3600
    assert AUTO_NAME.fullmatch("auto-0badcafe-20240101T000000Z")
    assert MODE.fullmatch("0755") and MODE.fullmatch("750")
    check_public_key(KEY)
    assert snapshot_time("repl-0badcafe-20240101T000000Z-2") is not None
    assert TRANSFER_ID.fullmatch("0123456789abcdef")


@pytest.mark.parametrize("text", [ARABIC_2024 + "M", "4\tG"])
def test_sizes(text):
    with pytest.raises(argparse.ArgumentTypeError):
        size(text)


@pytest.mark.parametrize("text", ["\u0661\u0662h", "12h\nx"])
def test_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("name", ["auto-0badcafe-20240101T000000Z\n",
                                  f"auto-0badcafe-{ARABIC_2024}0101T000000Z"])
def test_scheduled_snapshot_names(name):
    assert AUTO_NAME.fullmatch(name) is None


def test_modes_keys_and_transfer_names():
    assert MODE.fullmatch("0755\n") is None
    with pytest.raises(ValueError):
        check_public_key(KEY + "\n")
    assert snapshot_time("repl-0badcafe-20240101T000000Z\n") is None
    assert snapshot_time(f"repl-0badcafe-{ARABIC_2024}0101T000000Z") is None
    assert TRANSFER_ID.fullmatch("0123456789abcdef\n") is None
