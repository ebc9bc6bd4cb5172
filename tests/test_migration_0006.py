"""Migration 0006 (series.min_ts) on a database with data, as a DBA runs it: in place, downgraded,
and as the SQL script `alembic upgrade --sql` writes, run with psql. Reads answer as before."""
from __future__ import annotations

import io
import shutil
import subprocess

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from events_service.app import create_app
from tests.conftest import SECRET, AuthenticatedClient, alembic_config, make_credentials, scratch_database, \
    server_dsn
from tests.helpers import ApiHelper, basic_auth, log, scalar

WEEK_MS = 7 * 24 * 3600 * 1000
T0 = 1_800_000_000_000


def previous_revision(cfg) -> str:
    """The revision 0006 upgrades from (whatever it is chained after)."""
    return ScriptDirectory.from_config(cfg).get_revision("0006").down_revision


def connect(url):
    return psycopg.connect(server_dsn(url, make_url(url).database), autocommit=True)


def series_rows(url):
    with connect(url) as conn:
        return conn.execute("SELECT * FROM series ORDER BY key").fetchall()


def has_min_ts(url) -> bool:
    with connect(url) as conn:
        return conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'series' "
                            "AND column_name = 'min_ts'").fetchone()[0] == 1


def app_api(url):
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET,
                      "COMPACT_INTERVAL_SEC": 0})  # these tests compact explicitly
    app.test_client_class = AuthenticatedClient
    key, secret = make_credentials(url, "migrations")
    return app, ApiHelper(app, app.test_client(authorization=basic_auth(key, secret)))


def answers(api, task) -> dict:
    """The answer of every read endpoint on `task` (scroll ids left out: they are signed anew)."""
    calls = {
        "events": ("events.get_task_events", "2.1", {"task": task, "batch_size": 1000}),
        "log": ("events.get_task_log", "2.9", {"task": task, "batch_size": 100}),
        "latest": ("events.get_task_latest_scalar_values", "2.1", {"task": task}),
        "hist": ("events.scalar_metrics_iter_histogram", "2.1", {"task": task, "samples": 10}),
        "hist_ts": ("events.scalar_metrics_iter_histogram", "2.1", {"task": task, "key": "timestamp"}),
        "metric": ("events.get_scalar_metric_data", "2.1", {"task": task, "metric": "loss"}),
        "vector": ("events.vector_metrics_iter_histogram", "2.1",
                   {"task": task, "metric": "vec", "variant": "v"}),
        "plots": ("events.get_task_plots", "2.1", {"task": task, "iters": 3}),
        "images": ("events.debug_images", "2.1", {"task": task, "iters": 3}),
    }
    out = {}
    for name, (endpoint, version, body) in calls.items():
        data = api.call(endpoint, version, **body)
        data.pop("scroll_id", None)
        out[name] = data
    out["download"] = api.raw("events.download_task_log", "2.1", task=task).data
    return out


def populate(api, task):
    events = []
    for week in range(3):  # three chunks of every table
        for i in range(week * 20, week * 20 + 20):
            ts = T0 + week * WEEK_MS + i
            base = {"task": task, "iter": i, "variant": "v", "timestamp": ts}
            events += [scalar(task, i, value=i / 4, timestamp=ts),
                       scalar(task, i, "acc", value=-i, timestamp=ts),
                       {**base, "type": "training_stats_vector", "metric": "vec", "values": [float(i)]},
                       {**base, "type": "training_debug_image", "metric": "img", "key": "k",
                        "url": f"https://files/{i}.png"},
                       {**base, "type": "plot", "metric": "p", "plot_str": f'{{"i": {i}}}'},
                       log(task, f"line {i}", timestamp=ts)]
    api.add_batch(events)


@pytest.fixture(scope="module")
def populated():
    """A database at head with a task's events over three weeks, and the reads' answers."""
    with scratch_database("m0006") as url:
        cfg = alembic_config(url)
        command.upgrade(cfg, "head")
        app, api = app_api(url)
        populate(api, "t-0006")
        yield url, cfg, app, api, answers(api, "t-0006"), series_rows(url)
        app.extensions["db_engine"].dispose()


def _release(app):
    """Give back the app's connections before changing the schema under it."""
    if app.extensions.get("db_engine") is not None:
        app.extensions["db_engine"].dispose()


def test_downgrade_then_upgrade_in_place_keeps_every_answer(populated):
    url, cfg, app, api, before, series_before = populated
    _release(app)
    command.downgrade(cfg, previous_revision(cfg))
    assert not has_min_ts(url)
    command.upgrade(cfg, "head")
    assert series_rows(url) == series_before  # min_ts filled from the data, as ingestion kept it
    assert answers(api, "t-0006") == before


def test_the_sql_script_of_the_upgrade_runs_in_psql(populated):
    url, cfg, app, api, before, series_before = populated
    _release(app)
    command.downgrade(cfg, previous_revision(cfg))
    buffer = io.StringIO()
    script_cfg = alembic_config(url)
    script_cfg.output_buffer = buffer
    command.upgrade(script_cfg, f"{previous_revision(cfg)}:head", sql=True)
    script = buffer.getvalue()
    assert "ALTER TABLE series ADD COLUMN min_ts BIGINT" in script and "UPDATE alembic_version" in script
    psql(url, script)
    assert series_rows(url) == series_before
    assert answers(api, "t-0006") == before


def psql(url, script):
    subprocess.run([shutil.which("psql") or "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                    server_dsn(url, make_url(url).database)], input=script, text=True, check=True,
                   capture_output=True)


def test_the_whole_sql_script_builds_a_database_that_matches_the_models():
    with scratch_database("m0006sql") as url:
        buffer = io.StringIO()
        cfg = alembic_config(url)
        cfg.output_buffer = buffer
        command.upgrade(cfg, "head", sql=True)
        psql(url, buffer.getvalue())
        check_cfg = alembic_config(url)
        command.check(check_cfg)  # raises when the scripted schema and the models differ
        with connect(url) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == \
                ScriptDirectory.from_config(check_cfg).get_current_head()


def test_large_text_is_stored_lz4_compressed(populated):
    url, cfg, app, api, before, series_before = populated
    plot = '{"data": [' + ", ".join(f'{{"x": {i}, "y": "point {i}"}}' for i in range(2000)) + "]}"
    api.add_batch([{"type": "plot", "task": "t-lz4", "iter": 1, "metric": "m", "variant": "v",
                    "plot_str": plot}, log("t-lz4", "long line " * 1000)])
    with connect(url) as conn:
        methods = conn.execute(
            "SELECT pg_column_compression(plot_str) FROM plot_events e JOIN tasks t ON t.key = e.task_key "
            "WHERE t.id = 't-lz4' UNION ALL SELECT pg_column_compression(msg) FROM log_events e "
            "JOIN tasks t ON t.key = e.task_key WHERE t.id = 't-lz4'").fetchall()
    assert methods == [("lz4",), ("lz4",)]
    assert api.call("events.get_task_plots", task="t-lz4")["plots"][0]["plot_str"] == plot
