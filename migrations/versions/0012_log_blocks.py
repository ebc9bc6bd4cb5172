"""log_blocks: the compact form of log lines that can no longer change.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Why (issue 16, "size": log lines in at most 1.5x the bytes of their messages)
A log line stored as a `log_events` row costs about 160 bytes beyond its message: the tuple header,
eleven columns (company, task and series keys, id, ts, iter, worker, received, level, msg, extra)
and its (task_key, ts, id) index entry. No layout of one row per line reaches 1.5x a 120-byte
message. Once a task has ended its lines no longer change (a log line is never replaced: ingestion
only drops exact repeats), so they are moved into blocks: one row per task and 1,000 consecutive
lines in (ts, id) order, one array per column, which PostgreSQL compresses (TOAST, lz4). The only
index is the primary key (task_key, min_ts, first_id): one entry per 1,000 lines.

What a block keeps, so that every read answers byte for byte as before: ids (the keyset
tie-breaker), times, messages, and per line the series, iteration, worker, level, ingestion time
and extra fields; a column that is the same for every line of the block (the usual case: one
worker, one level, no iteration) is stored once (one_*) and its array is NULL. (min_ts, first_id)
and (max_ts, last_id) are the block's first and last (ts, id): a task's blocks never overlap
(compaction turns back into rows the blocks that overlap the rows it moves), so a keyset page
(get_task_log, get_task_events) unnests only the blocks that hold its lines, found from those
bounds and n, and a download reads the blocks in key order, sorting only within each block.

Measured (bench/storage.py --points 5000 --logs 20000 --plots 100: 20,000 lines of 60-140 characters,
120.2 bytes of message each, one worker and level, 12-06, shared machine), bytes per line with
heap, TOAST and indexes after VACUUM:
    rows as before (log_events, (task_key, ts, id) index)                         279.3
    blocks of 1,000 lines, one array per column, lz4 (this layout)                 71.7
        of which messages 50.9 (lz4 keeps 42% of them), ids 4.0, times 4.1 (lz4 of bigint arrays
        whose high bytes repeat), the rest TOAST chunk headers, its index and page fill
    the same, blocks of 250 / 4,000 lines                                         74.5 / 64.7
    messages as one newline-joined text, ids and times as int4 offsets            64.7
    the same layout with pglz instead of lz4                                      44.2
pglz keeps 27% of the messages where lz4 keeps 42%, but compresses (compaction) and decompresses
(every read of a block) more slowly; lz4 already stores a line in 0.6x its message, so the layout
keeps lz4, as the other compressed columns do. Joined text and int4 offsets gain ~10% and need
escaping and fallbacks (ids or times beyond 2^31 of the block's first); larger blocks gain as
little and make a page read unnest more lines: 1,000, as for scalars.
Reads (bench/logs.py --lines 200000 --repeat 15, the same task as rows then compacted, in one run,
load average ~6, so +-30%): get_task_log's newest page (500 lines) 9.8 -> 17.6 ms median, a page
halfway into the scroll 18.5 -> 25.5 ms (a page unnests the one or two blocks holding its lines:
~3 ms in the database, EXPLAIN ANALYZE); download_task_log text 501k -> 416k lines/s, json 362k ->
267k lines/s, first byte after 36 -> 45 ms (the blocks stream in key order, each block's lines
sorted on their own; a log with both forms is sorted whole).

`series.compacted_received` (0008) serves log series as it serves scalar ones: a log series of an
ended task whose last_received differs from it has rows to compact.

Reads: events_service/db/queries/log_blocks.py is the one place that knows both forms; every read
of log lines takes them from there. Writes: compaction moves a task's rows into blocks under its
log series' advisory locks (the locks ingestion takes), in one transaction per task.
Upgrade: the table only; the rows stay as they are and are compacted by the next pass (or
`events-service compact`). Downgrade: the blocks' lines go back to rows first, nothing is lost.
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE log_blocks (
            task_key bigint NOT NULL,
            min_ts bigint NOT NULL,
            first_id bigint NOT NULL,
            max_ts bigint NOT NULL,
            last_id bigint NOT NULL,
            company_key integer NOT NULL,
            n integer NOT NULL,
            one_series bigint,
            one_iter bigint,
            one_worker text,
            one_level text,
            one_received bigint,
            ids bigint[] COMPRESSION lz4 NOT NULL,
            times bigint[] COMPRESSION lz4 NOT NULL,
            msgs text[] COMPRESSION lz4 NOT NULL,
            series_keys bigint[] COMPRESSION lz4,
            iters bigint[] COMPRESSION lz4,
            workers text[] COMPRESSION lz4,
            levels text[] COMPRESSION lz4,
            receiveds bigint[] COMPRESSION lz4,
            extras jsonb[] COMPRESSION lz4,
            CONSTRAINT pk_log_blocks PRIMARY KEY (task_key, min_ts, first_id)
        )""")


def downgrade() -> None:
    # The blocks' lines go back to rows first (a migration keeps its own copy of the SQL).
    op.execute("""
        INSERT INTO log_events (company_key, task_key, series_key, id, ts, iter, worker, received, level, msg,
                                extra)
        SELECT b.company_key, b.task_key,
               CASE WHEN b.series_keys IS NULL THEN b.one_series ELSE u.series_key END,
               u.id, u.ts, CASE WHEN b.iters IS NULL THEN b.one_iter ELSE u.iter END,
               CASE WHEN b.workers IS NULL THEN b.one_worker ELSE u.worker END,
               CASE WHEN b.receiveds IS NULL THEN b.one_received ELSE u.received END,
               CASE WHEN b.levels IS NULL THEN b.one_level ELSE u.level END, u.msg, u.extra
        FROM log_blocks b
        CROSS JOIN LATERAL unnest(b.ids, b.times, b.msgs, b.series_keys, b.iters, b.workers, b.receiveds,
                                  b.levels, b.extras)
             AS u(id, ts, msg, series_key, iter, worker, received, level, extra)""")
    op.execute("DROP TABLE log_blocks")
