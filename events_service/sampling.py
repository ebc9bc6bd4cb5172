"""Downsampling arithmetic for scalar histograms: pure integer maths, no database, no Flask.

The database does the averaging (db/queries/scalars.py); this module decides *how*: the bucket
interval of each series and which pre-aggregate width to read it from.

Interval (ClearML's current formula, made to keep its promise)
    A series with `count` points over the axis values lo..hi (`range = hi - lo + 1`) is shown
    point by point (interval 1) when `samples` is 0 or `count <= samples`. Otherwise

        interval = max(1, ceil(range / samples))

    and every point goes to the bucket `floor(x / interval)`, i.e. buckets are aligned to 0 (the
    Unix epoch for time keys), not to `lo`; empty buckets are omitted; a bucket's x is its start.
    Aligned to 0, that formula can still give `samples + 1` buckets when `lo` is not a multiple
    of the interval (lo=5, hi=104, samples=10: interval 10, buckets 0..100 = 11 points). The
    contract says *at most* `samples` points, so when that happens the interval grows to the
    smallest value that keeps the promise (it always exists for samples >= 2:
    ceil(range / (samples - 1)) is enough). For samples = 1 a single 0-aligned bucket cannot
    hold a series that has both negative and non-negative x; that series gets two points.

Pre-aggregate width
    Ingestion keeps, per series, buckets of 10, 100 and 1000 iterations (count, sum, min, max,
    first and last iteration; see db/queries/scalars.py). A histogram bucket of `interval`
    iterations is the union of the stored buckets that lie inside it, plus the raw points of
    the stored buckets that straddle one of its edges. `choose_width` estimates the rows each
    width would read (stored buckets + raw points of straddling buckets) against reading every
    raw point, and takes the cheapest. When the interval is a multiple of the width nothing
    straddles: 100,000 iterations at samples=1000 read 1000 stored rows instead of 100,000.
"""
from __future__ import annotations

from math import gcd

INT64_MIN = -(2 ** 63)
INT64_MAX = 2 ** 63 - 1
SINGLE_VALUE_ITER = -2 ** 31   # the SDK's report_single_value(): never part of a histogram
DEFAULT_SAMPLES = 10000        # the schema's documented default
WIDTHS = (10, 100, 1000)       # pre-aggregate bucket widths, in iterations
STATS_WIDTH = WIDTHS[-1]       # the coarsest level: per-series count / first / last iteration
# How far above ceil(range / samples) the interval is searched before taking the safe bound.
_SEARCH = 1000


def bucket_count(lo: int, hi: int, interval: int) -> int:
    """Number of 0-aligned buckets of `interval` that the axis values lo..hi can touch."""
    return hi // interval - lo // interval + 1


def choose_interval(count: int, lo: int, hi: int, samples: int) -> int:
    """The bucket interval of one series (1 = every point); see the module docstring."""
    if samples <= 0 or count <= samples:
        return 1
    span = hi - lo + 1
    interval = max(1, -(-span // samples))
    if bucket_count(lo, hi, interval) <= samples:
        return interval
    if samples == 1:
        if lo >= 0:
            return hi + 1
        if hi < 0:
            return -lo
        return max(hi + 1, -lo)  # crosses 0: two buckets is the best 0-aligned buckets can do
    for candidate in range(interval + 1, interval + _SEARCH):
        if bucket_count(lo, hi, candidate) <= samples:
            return candidate
    return -(-span // (samples - 1))


def choose_width(count: int, lo: int, hi: int, interval: int, widths: tuple[int, ...] = WIDTHS) -> int:
    """The pre-aggregate width to build `interval`-buckets from, or 1 to read the raw points.

    Estimated rows read with width w (only w <= interval is useful):
      stored buckets   min(count, range / w + 1)
      straddlers       the interval edges inside lo..hi that are not multiples of w (a fraction
                       1 - gcd(interval, w) / w of them), each with up to w * density raw points.
    """
    if interval <= 1 or count <= 0:
        return 1
    span = hi - lo + 1
    density = min(1.0, count / span)
    edges = hi // interval - lo // interval
    best, best_cost = 1, float(count)
    for width in sorted(widths):
        if width > interval:
            break
        stored = min(count, span // width + 1)
        straddling = edges * (1 - gcd(interval, width) / width)
        cost = stored + straddling * width * density
        if cost <= best_cost:
            best, best_cost = width, cost
    return best


def bucket_start(index: int, interval: int) -> int:
    """x of bucket `index` (its first axis value), kept inside int64 for the lowest bucket."""
    return max(INT64_MIN, index * interval)
