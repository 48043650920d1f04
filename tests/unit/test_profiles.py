"""The profile table, validate(), default_metadata() and the chunk allocator behind capacity()."""

from __future__ import annotations

import time
from typing import get_args

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rockd.storage import profiles as P
from rockd.storage.profiles import (
    PROFILES,
    DataProfile,
    GiB,
    MetadataProfile,
    MiB,
    Profile,
    ProfileError,
    TooFewDisks,
    allocate,
    capacity,
    default_metadata,
    stripe_limit,
    validate,
)

TB = 10**12


def disks(*gib: float) -> list[int]:
    """Disks holding exactly these many GiB once btrfs keeps its first MiB on each."""
    return [int(g * GiB) + MiB for g in gib]


def reference(free: list[int], profile: str, total: int) -> tuple[int, int, int, tuple[int, ...]]:
    """The allocator one chunk at a time, as fs/btrfs/volumes.c does it (slow but plain)."""
    p = PROFILES[profile]
    per_dev = p.stripes_per_device
    f = [max(0, x) for x in free]
    usable = allocated = chunks = 0
    while True:
        alive = sorted((x for x in f if x >= P.STRIPE_LEN * per_dev), reverse=True)
        rest = [x for x in f if x < P.STRIPE_LEN * per_dev]
        n = len(alive) - len(alive) % p.device_increment
        if p.max_devices is not None:
            n = min(n, p.max_devices)
        if n == 0 or n < p.min_devices:
            return usable, allocated, chunks, tuple(sorted(f, reverse=True))
        stripe = min(alive[n - 1] // per_dev, stripe_limit(profile, n, total))
        stripe = stripe // P.STRIPE_LEN * P.STRIPE_LEN
        for i in range(n):
            alive[i] -= stripe * per_dev
        usable += stripe * p.data_stripes(n)
        allocated += stripe * per_dev * n
        chunks += 1
        f = alive + rest


# -- the table -----------------------------------------------------------------------------------

def test_table_names_match_the_literal_types():
    assert tuple(PROFILES) == get_args(Profile)
    assert [n for n, p in PROFILES.items() if p.for_data] == list(get_args(DataProfile))
    assert [n for n, p in PROFILES.items() if p.for_metadata] == list(get_args(MetadataProfile))


@pytest.mark.parametrize(("name", "minimum", "copies", "parity", "widest", "failures"), [
    ("single", 1, 1, 0, 1, 0), ("dup", 1, 2, 0, 1, 0), ("raid0", 1, 1, 0, None, 0),
    ("raid1", 2, 2, 0, 2, 1), ("raid1c3", 3, 3, 0, 3, 2), ("raid1c4", 4, 4, 0, 4, 3),
    ("raid10", 2, 2, 0, None, 1), ("raid5", 2, 1, 1, None, 1), ("raid6", 3, 1, 2, None, 2),
])
def test_table(name, minimum, copies, parity, widest, failures):
    p = PROFILES[name]
    assert (p.min_devices, p.copies, p.parity, p.max_devices, p.tolerated_failures) == (
        minimum, copies, parity, widest, failures)


def test_raid5_and_raid6_never_for_metadata_and_dup_not_for_data():
    assert not PROFILES["raid5"].for_metadata and not PROFILES["raid6"].for_metadata
    assert not PROFILES["dup"].for_data
    assert PROFILES["dup"].for_metadata


def test_data_stripes():
    assert [PROFILES["raid10"].data_stripes(n) for n in (2, 4, 6)] == [1, 2, 3]
    assert PROFILES["raid5"].data_stripes(5) == 4 and PROFILES["raid6"].data_stripes(5) == 3
    assert PROFILES["dup"].data_stripes(1) == 1 and PROFILES["raid1c3"].data_stripes(3) == 1


def test_literal_types_work_in_pydantic_models():
    class Pool(pydantic.BaseModel):
        data: DataProfile
        metadata: MetadataProfile | None = None

    assert Pool(data="raid6", metadata="raid1c3").data == "raid6"
    with pytest.raises(pydantic.ValidationError):
        Pool(data="dup")
    with pytest.raises(pydantic.ValidationError):
        Pool(data="raid1", metadata="raid5")


# -- validate and default_metadata ---------------------------------------------------------------

@pytest.mark.parametrize(("data", "metadata", "disks", "short", "minimum"), [
    ("raid1", "raid1", 1, "raid1", 2),
    ("raid1c3", "raid1", 2, "raid1c3", 3),
    ("raid1c4", "raid1c4", 3, "raid1c4", 4),
    ("raid10", "raid1", 1, "raid10", 2),
    ("raid5", "raid1", 1, "raid5", 2),
    ("raid6", "raid1", 2, "raid6", 3),
    ("single", "raid1c3", 2, "raid1c3", 3),    # metadata short, data fine
    ("raid6", "raid1c4", 2, "raid6", 3),       # both short: data is reported
    ("single", "dup", 0, "single", 1),
])
def test_too_few_disks(data, metadata, disks, short, minimum):
    with pytest.raises(TooFewDisks) as e:
        validate(data, metadata, disks)
    assert (e.value.profile, e.value.minimum, e.value.given) == (short, minimum, disks)
    assert isinstance(e.value, ValueError)
    assert f"at least {minimum}" in str(e.value)


@pytest.mark.parametrize(("data", "metadata", "disks"), [
    ("single", "dup", 1), ("raid1", "raid1", 2), ("raid1c3", "raid1c3", 3),
    ("raid1c4", "raid1c4", 4), ("raid10", "raid10", 2), ("raid5", "raid1", 2),
    ("raid6", "raid1c3", 3), ("raid0", "raid0", 1), ("raid6", "raid1c4", 4),
])
def test_valid(data, metadata, disks):
    validate(data, metadata, disks)


@pytest.mark.parametrize(("data", "metadata"), [
    ("raid1", "raid5"), ("raid6", "raid6"), ("dup", "dup"), ("raid7", "raid1"),
    ("raid1", "RAID1"), ("raid1", ""),
])
def test_not_offered_or_unknown(data, metadata):
    with pytest.raises(ProfileError) as e:
        validate(data, metadata, 4)
    assert not isinstance(e.value, TooFewDisks)


@pytest.mark.parametrize(("data", "disks", "expected"), [
    ("single", 1, "dup"), ("raid0", 1, "dup"), ("single", 2, "raid1"), ("raid0", 4, "raid1"),
    ("raid1", 2, "raid1"), ("raid10", 4, "raid1"), ("raid5", 3, "raid1"),
    ("raid6", 3, "raid1c3"), ("raid6", 8, "raid1c3"), ("raid1c3", 3, "raid1c3"),
    ("raid1c4", 4, "raid1c4"),
])
def test_default_metadata(data, disks, expected):
    assert default_metadata(data, disks) == expected
    validate(data, expected, disks)


def test_default_metadata_unknown_profile():
    with pytest.raises(ProfileError):
        default_metadata("raid7", 3)


# -- capacity: cases worked by hand --------------------------------------------------------------
# disks() sizes hold whole GiB after btrfs's reserved first MiB, and are large enough (>= 10 GiB
# in all) for 1 GiB stripes, so the allocator's steps can be followed on paper.

@pytest.mark.parametrize(("data", "sizes", "usable", "left"), [
    # single: everything, one device at a time
    ("single", disks(1000, 2000), 3000, 0),
    # raid0 stripes over all: 3 x 1000, then 2 x 1000 over the two larger, then 1000 alone
    ("raid0", disks(1000, 2000, 3000), 6000, 0),
    ("raid0", disks(500, 500), 1000, 0),
    # raid1: the 2000 GiB disk pairs with the other two in turn; 1+1+2 TB holds 2 TB
    ("raid1", disks(1000, 1000, 2000), 2000, 0),
    # raid1 over 1 + 4: the small one fills, 3000 GiB of the large one can never be mirrored
    ("raid1", disks(1000, 4000), 1000, 3000),
    ("raid1", disks(1000, 1000, 1000), 1500, 0),
    ("raid1", disks(1000, 1000), 1000, 0),
    # raid1c3: the large disk is in every chunk with two of the three small ones
    ("raid1c3", disks(1000, 1000, 1000, 3000), 1500, 1500),
    ("raid1c3", disks(1000, 1000, 1000), 1000, 0),
    ("raid1c4", disks(1000, 1000, 1000, 1000, 1000), 1250, 0),
    # raid10 stripes over an even number of devices: 4 of 5 equal ones, in turn
    ("raid10", disks(1000, 1000, 1000, 1000), 2000, 0),
    ("raid10", disks(1000, 1000, 1000, 1000, 1000), 2500, 0),
    ("raid10", disks(1000, 1000, 2000), 2000, 0),     # two devices at a time: a raid1
    ("raid10", disks(1000, 4000), 1000, 3000),
    # raid5: widest first (3 wide: 2 data + parity), then 2 wide, then nothing on one disk
    ("raid5", disks(1000, 1000, 1000), 2000, 0),
    ("raid5", disks(1000, 2000, 3000), 2000 + 1000, 1000),
    ("raid6", disks(1000, 1000, 1000, 1000), 2000, 0),
    ("raid6", disks(1000, 1000, 2000, 3000), 2000, 1000 + 2000),   # 2 devices left: too few
])
def test_capacity_by_hand(data, sizes, usable, left):
    result = capacity(sizes, data)
    assert result["usable"] == usable * GiB
    assert result["raw"] == sum(sizes)
    assert result["wasted"] == left * GiB + len(sizes) * MiB


def test_capacity_decimal_terabytes():
    # 1 TB is 931.3 GiB: not a whole number of stripes, and 4 KiB more than a multiple of the
    # 64 KiB stripe unit. raid1 over 1 + 1 + 2 TB still mirrors all but the end of the turns.
    result = capacity([TB, TB, 2 * TB], "raid1")
    half = (4 * TB - 3 * MiB) // 2
    assert half - GiB < result["usable"] <= half
    # 1 + 4 TB: the small disk fills, down to its last whole 64 KiB, and nothing more
    result = capacity([TB, 4 * TB], "raid1")
    assert result["usable"] == (TB - MiB) // P.STRIPE_LEN * P.STRIPE_LEN
    assert result["wasted"] == 5 * TB - 2 * result["usable"]


def test_dup_on_one_device():
    result = allocate([1000 * GiB], "dup", 1000 * GiB + MiB)
    assert (result.usable, result.allocated, result.chunks) == (500 * GiB, 1000 * GiB, 500)


def test_small_pool_chunks_and_what_they_strand():
    # 3 x 2 GiB raid1: a chunk is at most 10% of the filesystem, 614.7 MiB, rounded up to a
    # 16 MiB multiple: 624 MiB stripes. Free (2048, 2048, 2048) MiB goes:
    # (1424, 1424, 2048) (1424, 800, 1424) (800, 800, 800) (176, 176, 800), then the two
    # fullest take min(624, 176): (624, 0, 176), then (448, 0, 0): 448 MiB no mirror can use.
    result = capacity(disks(2, 2, 2), "raid1")
    assert result["usable"] == (4 * 624 + 2 * 176) * MiB
    assert result["wasted"] == 448 * MiB + 3 * MiB
    assert allocate([2 * GiB] * 3, "raid1", 3 * (2 * GiB + MiB)).left == (448 * MiB, 0, 0)


def test_stripe_limit():
    assert stripe_limit("raid1", 2, 100 * TB) == GiB
    assert stripe_limit("raid0", 64, 64 * 32 * TB) == 160 * MiB    # 10 GiB chunk / 64 stripes
    assert stripe_limit("raid6", 12, 100 * TB) == GiB               # 10 data stripes: 10 GiB
    assert stripe_limit("raid6", 13, 100 * TB) == 944 * MiB         # 11: 930.9 -> 944 MiB
    assert stripe_limit("raid6", 20, 100 * TB) == 576 * MiB         # 18: 568.9 -> 576 MiB
    assert stripe_limit("raid1", 2, 3 * (2 * GiB + MiB)) == 624 * MiB


def test_tiny_and_empty_disks_hold_nothing():
    assert capacity([0, 1000 * GiB + MiB], "single")["usable"] == 1000 * GiB
    assert capacity([0, 1000 * GiB + MiB], "raid1") == {
        "usable": 0, "raw": 1000 * GiB + MiB, "wasted": 1000 * GiB + MiB}
    assert capacity([MiB // 2], "single")["usable"] == 0


def test_capacity_validates():
    with pytest.raises(TooFewDisks):
        capacity([TB], "raid1")
    with pytest.raises(TooFewDisks):
        capacity([], "single")
    with pytest.raises(ProfileError):
        capacity([TB, TB], "raid5", "raid5")
    with pytest.raises(TooFewDisks) as e:
        capacity([TB, TB], "raid1", "raid1c3")
    assert e.value.profile == "raid1c3"
    with pytest.raises(ValueError, match="negative"):
        capacity([TB, -1], "raid1")


def test_capacity_is_fast_for_64_disks_of_32_tb():
    import random

    rng = random.Random(64)
    pools = [[32 * TB] * 64, [32 * TB] * 63,
             [32 * TB - i * (GiB + 12345 * 4096) for i in range(63)],
             [rng.randrange(1, 32 * TB) for _ in range(64)],
             [rng.choice((1, 2, 4, 8, 16, 32)) * TB for _ in range(61)]]
    for profile in get_args(DataProfile):
        for sizes in pools:
            best = min(_timed(sizes, profile) for _ in range(3))
            assert best < 0.05, (profile, best)


def _timed(sizes: list[int], profile: str) -> float:
    start = time.perf_counter()
    capacity(sizes, profile)
    return time.perf_counter() - start


# -- capacity: properties ------------------------------------------------------------------------

DATA = st.sampled_from(get_args(DataProfile))
ANY = st.sampled_from(get_args(Profile))
SIZE = st.one_of(
    st.integers(0, 48 * GiB),
    st.integers(1, 48).map(lambda g: g * GiB + MiB),            # whole GiB free: exact turns
    st.integers(0, 6).map(lambda g: g * GiB // 3 + 7 * 4096),
)
BIG = st.integers(0, 32 * TB)


def _pool(draw, size, most=9) -> tuple[str, list[int]]:
    profile = draw(DATA)
    n = draw(st.integers(PROFILES[profile].min_devices, most))
    return profile, draw(st.lists(size, min_size=n, max_size=n))


@st.composite
def small_pools(draw):
    return _pool(draw, SIZE)


@st.composite
def big_pools(draw):
    return _pool(draw, BIG, most=24)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_matches_the_allocator_chunk_by_chunk(data):
    """The runs applied at once give exactly what one chunk at a time gives."""
    profile = data.draw(ANY)
    sizes = data.draw(st.lists(SIZE, min_size=1, max_size=9))
    free = [max(0, s - P.RESERVED) for s in sizes]
    result = allocate(free, profile, sum(sizes))
    usable, allocated, chunks, left = reference(free, profile, sum(sizes))
    assert (result.usable, result.allocated, result.chunks, result.left) == (
        usable, allocated, chunks, left)


@settings(max_examples=300, deadline=None)
@given(st.one_of(small_pools(), big_pools()))
def test_accounting(pool):
    profile, sizes = pool
    p = PROFILES[profile]
    result = capacity(sizes, profile)
    alloc = allocate([max(0, s - P.RESERVED) for s in sizes], profile, sum(sizes))
    assert result["raw"] == sum(sizes)
    assert 0 <= result["usable"] <= result["raw"]
    assert result["wasted"] >= sum(min(MiB, s) for s in sizes)
    overhead = result["raw"] - result["usable"] - result["wasted"]
    assert overhead == (p.copies - 1) * result["usable"] + alloc.parity
    assert alloc.allocated == p.copies * alloc.usable + alloc.parity
    assert sum(alloc.left) + alloc.allocated == sum(max(0, s - P.RESERVED) for s in sizes)
    if p.parity:       # parity per data stripe: between the widest and the narrowest chunk's
        k = len(sizes)
        assert alloc.parity * (k - p.parity) >= p.parity * alloc.usable
        assert alloc.parity * (p.min_devices - p.parity) <= p.parity * alloc.usable
    else:
        assert alloc.parity == 0


@settings(max_examples=300, deadline=None)
@given(st.one_of(small_pools(), big_pools()), st.randoms(use_true_random=False))
def test_order_of_disks_does_not_matter(pool, rng):
    profile, sizes = pool
    shuffled = list(sizes)
    rng.shuffle(shuffled)
    assert capacity(shuffled, profile) == capacity(sizes, profile)


@settings(max_examples=300, deadline=None)
@given(st.one_of(small_pools(), big_pools()), st.one_of(SIZE, BIG))
def test_adding_a_disk(pool, extra):
    """Adding a disk never costs more than part of one stripe, and never anything in bulk.

    The allocator is greedy and stops on whole chunks: another disk changes which devices pair
    up and how large chunks are (10% of the filesystem), so what it strands at the very end
    can grow a little (measured: up to 64 MiB on pools of a few GiB, nothing at TB scale).
    """
    profile, sizes = pool
    before = capacity(sizes, profile)["usable"]
    after = capacity([*sizes, extra], profile)["usable"]
    limit = max(stripe_limit(profile, n, sum(sizes) + extra)
                for n in range(PROFILES[profile].min_devices, len(sizes) + 2))
    assert after >= before - limit


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 32).map(lambda t: t * TB), min_size=2, max_size=16))
def test_raid1_holds_half_unless_one_disk_is_larger_than_the_rest(sizes):
    """The classic bound: min(sum / 2, sum - largest), to within the stripes left at the end."""
    free = [s - MiB for s in sizes]
    ideal = min(sum(free) // 2, sum(free) - max(free))
    usable = capacity(sizes, "raid1")["usable"]
    assert ideal - GiB <= usable <= ideal
