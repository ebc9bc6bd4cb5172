"""Migration 0007's dashboard views, read as Grafana would: through a login role that is a member
of events_dashboards, which must be able to read these views and no table, chunk or other view."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.helpers import log, scalar

# PostgreSQL's catalogs and timescaledb's own metadata (relations of the extension: hypertable and
# chunk names, ranges and sizes, no event) are readable by every role; everything else (tables,
# chunks, any other view) must be closed to the dashboards role
CATALOGS = ("pg_catalog", "information_schema")
VIEWS = {"dashboards.scalar_points", "dashboards.scalar_series", "dashboards.task_summary"}


@pytest.fixture(scope="module")
def grafana(database_url):
    """A psycopg connection as a fresh login role in events_dashboards (dropped afterwards)."""
    url = make_url(database_url)
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"grafana_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {name} LOGIN IN ROLE events_dashboards")
        try:
            login = url.set(drivername="postgresql", username=name).render_as_string(hide_password=False)
            with psycopg.connect(login, autocommit=True) as conn:
                yield conn
        finally:
            admin.execute(f"DROP ROLE {name}")


@pytest.fixture(scope="module")
def reported(app):
    """A project, a named task in it, two scalar series and a log line."""
    from tests.helpers import ApiHelper
    api = ApiHelper(app, app.test_client(authorization=app.config["TEST_AUTHORIZATION"]))
    project = api.call("projects.create", name=f"dash-{uuid.uuid4().hex[:8]}")["id"]
    task = api.call("tasks.create", name="grafana run", type="training", project=project)["id"]
    points = [scalar(task, i, metric="loss", variant=v, value=i * (1.5 if v == "train" else 2.0),
                     timestamp=1_790_000_000_000 + i * 1000) for i in range(10) for v in ("train", "val")]
    api.add_batch(points + [log(task, "hello", timestamp=1_790_000_000_000)])
    return project, task, points


def test_scalar_points_are_the_stored_scalars(grafana, reported, db):
    project, task, points = reported
    rows = grafana.execute(
        "SELECT company, project_id, project, task, metric, variant, iteration, "
        "extract(epoch FROM time) * 1000, ts_ms, value FROM dashboards.scalar_points "
        "WHERE task_id = %s ORDER BY variant, iteration", (task,)).fetchall()
    company = db.execute("SELECT c.id FROM companies c JOIN tasks t ON t.company_key = c.key WHERE t.id = %s",
                         (task,)).fetchone()[0]
    project_name = db.execute("SELECT name FROM projects WHERE id = %s", (project,)).fetchone()[0]
    expected = sorted(((company, project, project_name, "grafana run", p["metric"], p["variant"], p["iter"],
                        p["timestamp"], p["timestamp"], p["value"]) for p in points),
                      key=lambda r: (r[5], r[6]))
    assert [(*r[:7], round(float(r[7])), *r[8:]) for r in rows] == expected


def test_scalar_points_include_compacted_points(grafana, app, database_url, db):
    """Points a compaction moved into scalar_blocks (migration 0008) stay in the view (0009), int64's
    last iteration too (0013)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from events_service import compaction
    from events_service.db.queries import compact
    from tests.helpers import ApiHelper
    api = ApiHelper(app, app.test_client(authorization=app.config["TEST_AUTHORIZATION"]))
    task = api.call("tasks.create", name="compacted run", type="training")["id"]
    points = [scalar(task, i, metric="acc", variant="v", value=n / 4, timestamp=1_790_000_000_000 + n)
              for n, i in enumerate([-2 ** 63, *range(2500), 2 ** 63 - 1])]  # int64's ends: blocks' first
    api.add_batch(points)
    query = ("SELECT iteration, ts_ms, value FROM dashboards.scalar_points WHERE task_id = %s "
             "ORDER BY iteration")
    before = grafana.execute(query, (task,)).fetchall()
    key = db.execute("SELECT key FROM tasks WHERE id = %s", (task,)).fetchone()[0]
    engine = create_engine(database_url)
    try:
        with Session(bind=engine) as session:
            pending = compact.pending(session, task_keys=[key], ended_only=False)
        compaction.compact_series(engine, pending)
    finally:
        engine.dispose()
    assert db.execute("SELECT count(*) FROM scalar_events WHERE task_key = %s", (key,)).fetchone()[0] == 0
    assert before == [(p["iter"], p["timestamp"], p["value"]) for p in points]
    assert grafana.execute(query, (task,)).fetchall() == before


def test_time_bucket_query_of_the_docs(grafana, reported):
    _, task, _ = reported
    rows = grafana.execute(
        "SELECT time_bucket('5 seconds', time) AS time, variant, avg(value) FROM dashboards.scalar_points "
        "WHERE task_id = %s AND metric = 'loss' AND ts_ms BETWEEN %s AND %s "
        "GROUP BY 1, 2 ORDER BY 2, 1", (task, 1_790_000_000_000, 1_790_000_009_999)).fetchall()
    assert [(variant, value) for _, variant, value in rows] == [
        ("train", 3.0), ("train", 10.5), ("val", 4.0), ("val", 14.0)]


def test_series_and_task_summaries(grafana, reported):
    _, task, _ = reported
    series = grafana.execute("SELECT variant, points, last_iteration, last_value, min_value, max_value "
                             "FROM dashboards.scalar_series WHERE task_id = %s ORDER BY variant",
                             (task,)).fetchall()
    assert series == [("train", 10, 9, 13.5, 0.0, 13.5), ("val", 10, 9, 18.0, 0.0, 18.0)]
    summary = grafana.execute("SELECT task, status, scalar_series, scalar_points, log_lines, plots, "
                              "last_iteration FROM dashboards.task_summary WHERE task_id = %s",
                              (task,)).fetchall()
    assert summary == [("grafana run", "created", 2, 20, 1, 0, 9)]


def test_the_role_reads_the_views_and_nothing_else(grafana, reported):
    readable = grafana.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname <> ALL(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
        "AND d.objid = c.oid AND d.deptype = 'e') "
        "AND has_table_privilege(c.oid, 'SELECT')", (list(CATALOGS),)).fetchall()
    assert {r[0] for r in readable} == VIEWS
    chunk = grafana.execute("SELECT chunk_schema || '.' || chunk_name FROM timescaledb_information.chunks "
                            "WHERE hypertable_name = 'scalar_events' LIMIT 1").fetchone()[0]
    for relation in ("scalar_events", "credentials", "tasks", "companies", chunk):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            grafana.execute(f"SELECT 1 FROM {relation} LIMIT 1")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        grafana.execute("INSERT INTO companies (id) VALUES ('x')")
