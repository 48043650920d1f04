"""What a pool request may say: mount options, compression, devid references and balance
filters, each accepted whole or refused (400/422) before anything is changed."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rockd.core.errors import BadRequest, Unprocessable
from rockd.storage.pool_input import balance_filters, check_compression, devid_of, mount_options

ACCEPTED_OPTIONS = ["noatime", "commit=0", "commit=9999", "thread_pool=1", "thread_pool=999",
                    "max_inline=0", "max_inline=4096", "discard=async", "noatime,,ssd"]
REFUSED_OPTIONS = ["noatime\n", "\nnoatime", "noatime ", "commit=\u0661\u0662", "commit=\uff11",
                   "commit=08", "commit=010", "commit=10000", "thread_pool=0", "thread_pool=01",
                   "max_inline=4097", "max_inline=99999999", "max_inline=4k", "rescue=bogus",
                   "rescue=", "rescue=usebackuproot:nologreplay", "rescue=all\n", "norecovery\n",
                   "-o", "ro", "subvol=/", "device=/dev/sda", "compress=zstd"]
RECOVERY_OPTIONS = ["norecovery", "rescue=usebackuproot", "rescue=nologreplay",
                    "rescue=ignorebadroots", "rescue=ibadroots", "rescue=ignoredatacsums",
                    "rescue=idatacsums", "rescue=ignoremetacsums", "rescue=ignoresuperflags",
                    "rescue=all"]


@pytest.mark.parametrize("option", ACCEPTED_OPTIONS)
def test_accepted_mount_options(option):
    assert mount_options(option, None) == ",".join(o for o in option.split(",") if o)


@pytest.mark.parametrize("option", REFUSED_OPTIONS)
def test_refused_mount_options_are_400(option):
    with pytest.raises(BadRequest) as raised:
        mount_options(f"noatime,{option}", "zstd")
    assert raised.value.detail == {"field": "mount_options"}


@pytest.mark.parametrize("option", RECOVERY_OPTIONS)
def test_recovery_options_are_422(option):
    with pytest.raises(Unprocessable) as raised:
        mount_options(option, None)
    assert raised.value.code == "recovery_option"


@given(st.text())
def test_an_accepted_option_list_is_plain_ascii(text):
    try:
        result = mount_options(text, None)
    except (BadRequest, Unprocessable):
        return
    assert result.isascii() and not any(c.isspace() for c in result)
    assert all(c.isalnum() or c in "_=," for c in result), result


@pytest.mark.parametrize("value", ["no", "lzo", "zlib", "zlib:9", "zstd", "zstd:1",
                                   "zstd:15", None])
def test_accepted_compression(value):
    check_compression(value)


@pytest.mark.parametrize("value", ["zstd\n", "zlib:3\n", "lzo\n", "zstd:\u0663", "zstd:16",
                                   "zlib:0", "zstd:03", " zstd", "ZSTD", "", "zstd:-1"])
def test_refused_compression(value):
    with pytest.raises(BadRequest):
        check_compression(value)


def test_devid_references():
    assert devid_of("loop-disk0.img-abc") is None
    assert devid_of("devid:2") == 2
    for bad in ["devid:2\n", "devid:\u0662", "devid:0", "devid:02", "devid:-1", "devid:",
                "devid:2:3", " devid:2"]:
        with pytest.raises(BadRequest):
            devid_of(bad)


@pytest.mark.parametrize(("text", "args"), [
    (None, ["--full-balance"]),
    ("--force", ["--force", "--full-balance"]),
    ("-dusage=50 -musage=30", ["-dusage=50", "-musage=30"]),
    ("-dusage=50,limit=2", ["-dusage=50,limit=2"]),
    ("-d", ["-d"]),
    ("-dusage=..5 -mlimit=1..2", ["-dusage=..5", "-mlimit=1..2"]),
    ("-ddevid=1,drange=0..1048576", ["-ddevid=1,drange=0..1048576"]),
    ("-dprofiles=single|raid1 -dstripes=1..2", ["-dprofiles=single|raid1", "-dstripes=1..2"]),
    ("--force -dconvert=raid1,soft -sconvert=raid1,soft",
     ["--force", "-dconvert=raid1,soft", "-sconvert=raid1,soft"]),
])
def test_accepted_balance_filters(text, args):
    assert balance_filters(text) == args


@pytest.mark.parametrize("text", [
    "-dusage=101", "-dusage=5..1", "-dusage=010", "-dusage=0x5", "-dusage=\u0665",
    "-dusage=\uff15", "-dusage", "-dusage=", "-d=5", "-dsoft", "-ddrange=5..9", "-ddevid=0",
    "-ddevid=18446744073709551616", "-dstripes=1", "-dbogus=1", "-mconvert=raid5",
    "-dconvert=dup", "-dprofiles=single|", "-s", "-susage=0", "-x", "-", "usage=5",
    "--full-balance", "-dusage=5;reboot", "-dusage=5|6",
])
def test_refused_balance_filters(text):
    with pytest.raises(BadRequest) as raised:
        balance_filters(text)
    assert raised.value.detail == {"field": "filters"}


@pytest.mark.parametrize(("text", "said"), [
    ("-dusage=500", "usage is at most 100 (a percentage of each chunk)"),
    ("-musage=50..101", "usage is at most 100"),
    ("-dlimit=9..2", "'9..2' is not a range: its first number is larger"),
])
def test_a_refused_filter_says_the_rule(text, said):
    with pytest.raises(BadRequest, match=re.escape(said)):
        balance_filters(text)
