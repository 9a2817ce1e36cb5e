"""batch.py: the pure accumulator (count, bytes and age caps) and the offsets a batch commits."""

from __future__ import annotations

from millimetric_ingest.batch import Batch, Record, commit_offsets, describe


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def rec(partition: int, offset: int, size: int = 10, topic: str = "t") -> Record:
    return Record(topic, partition, offset, b"x" * size)


def test_an_empty_batch_is_neither_full_nor_due_and_a_fetch_may_wait_the_whole_age() -> None:
    batch = Batch(max_events=3, max_bytes=1000, max_age_ms=50, clock=Clock())
    assert not batch.full and not batch.due
    assert batch.remaining_ms() == 50
    assert batch.room() == 3
    assert batch.take() == []


def test_is_full_exactly_at_the_count_cap_and_not_one_record_before() -> None:
    batch = Batch(max_events=3, max_bytes=10_000, max_age_ms=1000, clock=Clock())
    assert batch.add(rec(0, 0)) is False
    assert batch.add(rec(0, 1)) is False
    assert batch.room() == 1
    assert batch.add(rec(0, 2)) is True
    assert batch.full and batch.due and batch.room() == 0


def test_is_full_once_the_byte_cap_is_reached_and_not_below_it() -> None:
    batch = Batch(max_events=100, max_bytes=100, max_age_ms=1000, clock=Clock())
    assert batch.add(rec(0, 0, size=60)) is False
    assert batch.size_bytes == 60
    assert batch.add(rec(0, 1, size=39)) is False  # 99 bytes: just under
    assert batch.add(rec(0, 2, size=1)) is True  # 100 bytes: at the cap
    assert batch.due


def test_becomes_due_when_its_oldest_record_reaches_the_age_cap() -> None:
    clock = Clock()  # steps are binary fractions of a second, so the arithmetic is exact
    batch = Batch(max_events=100, max_bytes=10_000, max_age_ms=64, clock=clock)
    batch.add(rec(0, 0))
    clock.now += 0.03125
    batch.add(rec(0, 1))  # a younger record does not restart the clock
    assert not batch.due
    assert batch.remaining_ms() == 32
    clock.now += 0.03125  # 62.5 ms
    assert not batch.due
    clock.now += 0.001953125  # 64.45 ms
    assert batch.due
    assert batch.remaining_ms() == 0


def test_take_hands_over_every_record_in_arrival_order_and_starts_over() -> None:
    clock = Clock()
    batch = Batch(max_events=100, max_bytes=10_000, max_age_ms=50, clock=clock)
    records = [rec(1, 5), rec(0, 3), rec(1, 6)]
    for r in records:
        batch.add(r)
    assert len(batch) == 3
    assert batch.take() == records
    assert len(batch) == 0 and batch.size_bytes == 0 and batch.started_at is None
    clock.now += 10
    batch.add(rec(0, 4))
    assert not batch.due  # the age counts from the first record of the new batch


def test_commit_offsets_are_the_highest_processed_offset_plus_one_per_partition() -> None:
    records = [rec(0, 10), rec(1, 7), rec(0, 12), rec(0, 11), rec(1, 3), rec(0, 2, topic="other")]
    assert commit_offsets(records) == {("t", 0): 13, ("t", 1): 8, ("other", 0): 3}


def test_commit_offsets_never_name_a_partition_without_processed_records() -> None:
    assert commit_offsets([]) == {}
    assert commit_offsets([rec(3, 0)]) == {("t", 3): 1}


def test_describe_gives_the_offset_range_of_each_partition() -> None:
    assert describe([rec(3, 4), rec(0, 19), rec(0, 10), rec(3, 4)]) == "p0:10-19 p3:4-4"
