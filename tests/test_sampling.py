"""sampling.py: interval choice (ClearML's formula, at most `samples` buckets) and pre-aggregate
width choice."""
from __future__ import annotations

import random

import pytest

from events_service import sampling
from events_service.sampling import bucket_count, bucket_start, choose_interval, choose_width


def buckets(points, interval):
    return sorted({p // interval for p in points})


@pytest.mark.parametrize("samples", [0, -1])
def test_zero_or_less_samples_means_every_point(samples):
    assert choose_interval(10 ** 6, 0, 10 ** 6 - 1, samples) == 1


@pytest.mark.parametrize("count, samples", [(100, 100), (5, 10000), (1, 1)])
def test_no_more_points_than_samples_means_every_point(count, samples):
    assert choose_interval(count, 0, 10 ** 9, samples) == 1


@pytest.mark.parametrize("lo, hi, samples, expected", [
    (0, 99, 10, 10),             # spec scenario: x = 0, 10, ..., 90
    (0, 99999, 1000, 100),
    (0, 99999, 10000, 10),
    (0, 123456, 1000, 124),      # ceil(123457 / 1000)
    (1, 100, 10, 10),            # 1..100 -> buckets 0..100 by 10 = 11: the formula alone is not enough
])
def test_interval_is_the_current_servers_formula_when_it_keeps_the_promise(lo, hi, samples, expected):
    interval = choose_interval(hi - lo + 1, lo, hi, samples)
    if bucket_count(lo, hi, -(-(hi - lo + 1) // samples)) <= samples:
        assert interval == expected
    else:
        assert interval > expected
    assert bucket_count(lo, hi, interval) <= samples


def test_misaligned_range_grows_the_interval_just_enough():
    # lo=5, hi=104: ceil(100/10) = 10 gives buckets 0..100 (11); 11 gives 0..99 by 11 = 10 buckets
    assert choose_interval(100, 5, 104, 10) == 11


def test_at_most_samples_buckets_random():
    rng = random.Random(7)
    for _ in range(3000):
        lo = rng.randint(-10 ** 6, 10 ** 6)
        hi = lo + rng.randint(0, 10 ** rng.randint(1, 7))
        samples = rng.randint(2, 5000)
        count = hi - lo + 1
        interval = choose_interval(count, lo, hi, samples)
        if count <= samples:
            assert interval == 1
            continue
        assert interval >= -(-count // samples)
        assert bucket_count(lo, hi, interval) <= samples


@pytest.mark.parametrize("lo, hi, expected_buckets", [(0, 500, 1), (7, 500, 1), (-500, -3, 1), (-5, 5, 2)])
def test_one_sample(lo, hi, expected_buckets):
    interval = choose_interval(hi - lo + 1, lo, hi, 1)
    assert bucket_count(lo, hi, interval) == expected_buckets


def test_int64_extremes_do_not_break_the_arithmetic():
    lo, hi = sampling.INT64_MIN, sampling.INT64_MAX
    interval = choose_interval(10, lo, hi, 5)
    assert bucket_count(lo, hi, interval) <= 5
    assert bucket_start(lo // 7, 7) == sampling.INT64_MIN  # floor(min / 7) * 7 is below int64: clamped
    assert bucket_start(-3, 10) == -30


def test_width_is_the_interval_when_it_divides_it():
    assert choose_width(100_000, 0, 99_999, 100) == 100
    assert choose_width(100_000, 0, 99_999, 10) == 10
    assert choose_width(1_000_000, 0, 999_999, 1000) == 1000
    assert choose_width(100_000, 0, 99_999, 5000) == 1000


def test_width_for_intervals_that_no_width_divides():
    # 124 = 4 * 31: width 10 reads ~12k stored rows + ~8k raw points, far less than 123k raw points
    assert choose_width(123_457, 0, 123_456, 124) == 10


def test_raw_points_when_interval_is_below_the_smallest_width():
    assert choose_width(50_000, 0, 49_999, 5) == 1
    assert choose_width(50_000, 0, 49_999, 1) == 1


def test_sparse_series_prefers_coarser_widths():
    # one point every 1000 iterations: stored buckets hold one point each, nothing to gain from raw
    assert choose_width(1000, 0, 999_000, 2000) == 1000
