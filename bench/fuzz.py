"""bench/fuzz.py --examples N: the fuzzer of tests/test_fuzz.py, longer, counting instead of stopping.

Starts gunicorn on a fresh bench database (EVENTS_BENCH_DATABASE_URL) with a small body limit,
seeds tasks with events of every type, runs every job of tests/fuzzing.py with N examples
(schemathesis positive and negative, hostile bodies and query strings per operation; json-lines
batches, download line formats and chunked bodies, 4N each), then checks that the control task
answers the same reads as before. Prints operations, examples and failures (with the first few
failure texts per job); exits 1 when anything failed.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import requests
import schemathesis

from common import bench_database_url, fresh_database, gunicorn, login

from tests import fuzzing  # noqa: E402  (bench/common.py puts the project on sys.path)

LIMIT = 256 * 1024
SPECIAL = ("json-lines", "line-format", "chunked")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="examples per job (special jobs: 4x)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    url = bench_database_url()
    auth = fresh_database(url)
    examples: Counter = Counter()
    failures: dict[tuple[str, str], list[str]] = {}

    def count(job: fuzzing.Job, problem: str | None) -> None:
        examples[job.kind] += 1
        if problem is not None:
            failures.setdefault((job.kind, job.operation), []).append(problem)

    started = time.monotonic()
    with gunicorn(url, workers=args.workers, EVENTS_MAX_BODY_BYTES=str(LIMIT)) as (base, _), \
            requests.Session() as session:
        session.headers.update(login(base, auth))
        seed = fuzzing.seed(session, base)
        before = fuzzing.snapshot(session, base, seed.control)
        document = requests.get(f"{base}/openapi.json", timeout=10).json()
        openapi = schemathesis.openapi.from_dict(fuzzing.seeded_openapi(document, seed))
        jobs = fuzzing.jobs(session, base, seed, openapi, session.headers["Authorization"], LIMIT)
        for job in jobs:
            fuzzing.run(job, args.examples * (4 if job.kind in SPECIAL else 1), count)
        same = fuzzing.snapshot(session, base, seed.control) == before
    elapsed = time.monotonic() - started

    operations = len({job.operation for job in jobs if job.kind not in SPECIAL})
    failed = sum(len(v) for v in failures.values())
    print(f"operations: {operations} endpoint versions (+ {len(SPECIAL)} special: {', '.join(SPECIAL)})")
    print(f"jobs: {len(jobs)}; examples: {sum(examples.values())} "
          f"({', '.join(f'{kind} {n}' for kind, n in sorted(examples.items()))})")
    print(f"failures: {failed} in {len(failures)} jobs; control task reads unchanged: {same}")
    for (kind, operation), problems in sorted(failures.items()):
        print(f"  {kind} {operation}: {len(problems)}")
        for problem in problems[:3]:
            print(f"    {problem[:300]}")
    print(f"time: {elapsed:.0f} s")
    return 0 if not failures and same else 1


if __name__ == "__main__":
    sys.exit(main())
