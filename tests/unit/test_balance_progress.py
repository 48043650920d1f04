"""A balance's progress over pauses: the kernel counts afresh after each resume, and the job
adds what was moved before (rockd.jobs.balance)."""

from rockd.jobs.balance import _detail


def counters(expected, considered, completed):
    return {"expected": expected, "considered": considered, "completed": completed, "state": 1}


def test_a_first_run_reads_the_kernel_as_it_is():
    assert _detail(counters(0, 0, 0)) == (None, "counting the chunks to move")
    assert _detail(counters(4, 2, 1)) == (0.25, "relocated 1 of 4 chunks")
    assert _detail(counters(1, 1, 0))[1] == "relocated 0 of 1 chunk"


def test_after_a_resume_the_chunks_moved_before_count():
    moved = {"completed": 3, "expected": 9}
    # counting again: what stood at the pause stands
    assert _detail(counters(2, 0, 0), moved) == (3 / 9, "relocated 3 of 9 chunks")
    assert _detail(counters(6, 1, 0), moved) == (3 / 9, "relocated 3 of 9 chunks")
    assert _detail(counters(6, 3, 3), moved) == (6 / 9, "relocated 6 of 9 chunks")


def test_more_chunks_found_after_a_resume_never_move_the_bar_back():
    moved = {"completed": 2, "expected": 9}
    fraction, detail = _detail(counters(8, 1, 0), moved)
    assert detail == "relocated 2 of 10 chunks" and fraction == 2 / 9
