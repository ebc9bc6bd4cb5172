"""Fuzzing that reaches the handlers, against a real gunicorn (see tests/fuzzing.py).

Tasks with events of every type are created first and every strategy names them; schemathesis
generates valid and invalid requests from the OpenAPI document (with those ids put in) and the
hypothesis strategies of tests/fuzzing.py send each class of hostile input. Every answer must be
a ClearML envelope, never a 5xx, a 200 valid against its response schema, a download bounded;
afterwards a control task answers the same reads as before. Examples per job are bounded
(FUZZ_EXAMPLES) so `make test` stays fast; bench/fuzz.py runs more. (schemathesis's own pytest
plugin is not used: it does not run on pytest 9; its strategies are driven by hypothesis.)
"""
from __future__ import annotations

import os

import pytest
import requests
import schemathesis

from tests import fuzzing
from tests.conftest import gunicorn

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
LIMIT = 256 * 1024  # the fuzzed server's body limit: small, so chunked bodies pass it cheaply
SPECIAL = ["json-lines", "line-format", "chunked"]


@pytest.fixture(scope="module")
def fuzz_server(database_url, tmp_path_factory):
    with gunicorn(database_url, tmp_path_factory.mktemp("fuzz") / "server.log", workers=2,
                  EVENTS_MAX_BODY_BYTES=str(LIMIT)) as base:
        yield base


@pytest.fixture(scope="module")
def run(fuzz_server, credentials):
    """The seeded store, its control snapshot, and every job by (kind, operation)."""
    with requests.Session() as session:
        token = requests.get(f"{fuzz_server}/auth.login", auth=credentials,
                             timeout=30).json()["data"]["token"]
        session.headers["Authorization"] = f"Bearer {token}"
        seed = fuzzing.seed(session, fuzz_server)
        before = fuzzing.snapshot(session, fuzz_server, seed.control)
        document = requests.get(f"{fuzz_server}/openapi.json", timeout=10).json()
        openapi = schemathesis.openapi.from_dict(fuzzing.seeded_openapi(document, seed))
        jobs = fuzzing.jobs(session, fuzz_server, seed, openapi, session.headers["Authorization"], LIMIT)
        yield {"session": session, "seed": seed, "before": before,
               "jobs": {(job.kind, job.operation): job for job in jobs}}


def fail_on_problem(job: fuzzing.Job, problem: str | None) -> None:
    assert problem is None, f"{job.kind} {job.operation}: {problem}"


def test_the_jobs_reach_the_handlers(run, fuzz_server):
    """Runs first (file order). The seeded ids are what the strategies name: a request made
    from the schema with them finds its task and every event of it."""
    seed = run["seed"]
    assert fuzzing.UNKNOWN_TASK in seed.tasks and seed.control not in seed.tasks
    body = fuzzing.example(fuzzing.API.endpoints["events.get_task_events"][max(
        fuzzing.API.endpoints["events.get_task_events"])].request, {}, seed)
    data = run["session"].post(f"{fuzz_server}/events.get_task_events", json=body, timeout=30).json()["data"]
    assert data["total"] == len(fuzzing.events_of_every_type(seed.tasks[0]))


@pytest.mark.parametrize("operation", [f"/v{version}/{name}" for name, version in fuzzing.OPERATIONS])
def test_every_operation_answers_every_input_with_an_envelope(run, operation):
    for kind in ("schemathesis+", "schemathesis-", "body", "query"):
        fuzzing.run(run["jobs"][(kind, operation)], EXAMPLES, fail_on_problem)


@pytest.mark.parametrize("kind", SPECIAL)
def test_batches_formats_and_chunked_bodies(run, kind):
    (job,) = [job for (k, _), job in run["jobs"].items() if k == kind]
    fuzzing.run(job, EXAMPLES * 4, fail_on_problem)


def test_zz_store_answers_the_same_reads_after_fuzzing(run, fuzz_server):
    """Runs last (file order): the control task, never named by a strategy, reads the same."""
    after = fuzzing.snapshot(run["session"], fuzz_server, run["seed"].control)
    assert after == run["before"]
    for task in run["seed"].tasks[:2]:  # the fuzzed tasks still answer every read
        fuzzing.snapshot(run["session"], fuzz_server, task)
