"""timerange.Span.chunk_aligned: ingestion's bounds widened to whole chunks (same chunks excluded,
the same statement text for a week of batches)."""
from events_service.db.models import CHUNK_INTERVAL_MS as WEEK
from events_service.db.queries.timerange import EMPTY, Span

LOWEST, HIGHEST = -(2 ** 63), 2 ** 63 - 1


def test_a_span_widens_to_the_chunks_holding_its_ends():
    t0 = 2_600 * WEEK
    aligned = Span(t0 + 5, t0 + 3 * WEEK + 7).chunk_aligned()
    assert aligned == Span(t0, t0 + 4 * WEEK - 1)
    # every batch of that week gives the same bounds, so the same statement text
    assert Span(t0 + 1, t0 + 3 * WEEK + 99_999).chunk_aligned() == aligned
    assert Span(t0 - 1, t0 + 3 * WEEK).chunk_aligned() == Span(t0 - WEEK, t0 + 4 * WEEK - 1)


def test_open_empty_and_extreme_spans_stay_within_int64():
    assert Span(None, None).chunk_aligned() == Span(None, None)
    assert EMPTY.chunk_aligned() is EMPTY
    aligned = Span(LOWEST, HIGHEST).chunk_aligned()
    assert aligned == Span(LOWEST, HIGHEST)
    assert Span(-1, 0).chunk_aligned() == Span(-WEEK, WEEK - 1)
    assert "BETWEEN" in aligned.sql() and str(HIGHEST) in aligned.sql()
