"""The service's Prometheus metrics, correct under gunicorn's several worker processes.

prometheus_client's multiprocess mode: each worker writes its samples to memory-mapped files in
PROMETHEUS_MULTIPROC_DIR (which gunicorn.conf.py creates before any worker starts, and cleans per
dead worker in its child_exit hook), and /metrics, in whichever worker serves it, sums every
worker's files. Without that variable (the Flask test client, a plain `flask run`) the metrics live
in the process's own registry. Flask-free: the request hooks, the database session and the
handlers' helpers call these functions with plain values.

Label values are bounded: an endpoint label is a name the schema defines, a route's template
(/files/<path:path>) or "unmatched", an event type one of the five the API knows (or "unknown"),
so no client can grow the series count.
"""
from __future__ import annotations

import os
from collections import Counter as Tally

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics, generate_latest, multiprocess)
from sqlalchemy import Engine, event

disable_created_metrics()  # no `_created` twin of every series (the multiprocess mode has none either)

REQUESTS = Counter("events_http_requests_total", "HTTP requests answered, by endpoint and status code",
                   ["endpoint", "status"])
LATENCY = Histogram("events_http_request_duration_seconds",
                    "Time from the request's arrival in the worker to its response (a streamed download: "
                    "to its first byte), by endpoint and status code", ["endpoint", "status"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
EVENTS_INGESTED = Counter("events_ingested_total", "Events stored (acknowledged), by event type",
                          ["type"])
EVENTS_REFUSED = Counter("events_refused_total",
                         "Events refused (invalid, or for an unknown or locked task), by event type",
                         ["type"])
SCROLL_PAGES = Counter("events_scroll_pages_total", "Pages served by scrolling endpoints", ["endpoint"])
POOL_IN_USE = Gauge("events_db_pool_connections_in_use", "Database connections checked out of the pools "
                    "of the live workers", ["database"], multiprocess_mode="livesum")
COMPACTION_PASSES = Counter("events_compaction_passes_total",
                            "Periodic compaction passes run by this service's processes, by outcome "
                            "(ok, failed)",
                            ["outcome"])
COMPACTED_POINTS = Counter("events_compacted_points_total",
                           "Scalar points moved into compact blocks by the periodic passes")
COMPACTED_LOG_LINES = Counter("events_compacted_log_lines_total",
                              "Log lines moved into compact blocks by the periodic passes")
REPLICA_FALLBACKS = Counter("events_replica_fallbacks_total",
                            "Read requests sent to the primary because the read replica did not answer")


def observe_request(endpoint: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint, str(status)).inc()
    LATENCY.labels(endpoint, str(status)).observe(seconds)


def count_events(ingested: Tally, refused: Tally) -> None:
    for event_type, count in ingested.items():
        EVENTS_INGESTED.labels(event_type).inc(count)
    for event_type, count in refused.items():
        EVENTS_REFUSED.labels(event_type).inc(count)


def count_compaction_pass(outcome: str, points: int = 0, log_lines: int = 0) -> None:
    COMPACTION_PASSES.labels(outcome).inc()
    COMPACTED_POINTS.inc(points)
    COMPACTED_LOG_LINES.inc(log_lines)


def count_scroll_page(endpoint: str) -> None:
    SCROLL_PAGES.labels(endpoint).inc()


def watch_pool(engine: Engine, database: str) -> None:
    """Keep POOL_IN_USE up to date for `engine`'s pool (`database`: "primary" or "replica").

    Registered after the pool's own checkout listener (db/session.py), so a checkout that fails its
    ping (and is retried with a new connection) is counted once, when it succeeds.
    """
    gauge = POOL_IN_USE.labels(database)

    @event.listens_for(engine, "checkout")
    def _out(*_args) -> None:
        gauge.inc()

    @event.listens_for(engine, "checkin")
    def _in(*_args) -> None:
        gauge.dec()


def render() -> tuple[bytes, str]:
    """The text exposition of every metric (summed over the live and dead workers' files)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
