"""A fuzzer that reaches the handlers: the pieces tests/test_fuzz.py and bench/fuzz.py share.

Before fuzzing, `seed` creates tasks with events of every type (and a task document, a project);
the strategies name those ids (and one unknown id), so requests get past "unknown task" into the
handlers. Requests come from schemathesis (the service's OpenAPI document with the seeded ids
put in, positive and negative generation) and from the hypothesis strategies below, one per
class of hostile input: JSON bodies with one field set to an integral float, a number no value
holds, null, deep or wide JSON, odd text; query strings with Unicode digits and whitespace;
json-lines batches with broken and extreme lines; chunked bodies around and past the size
limit; download line formats with nested fields and huge widths.

`check` is the oracle for every answer: a ClearML envelope whose result_code is the HTTP status,
never a 5xx, a 200 valid against the response schema of the version that served it, a download
that ends and stays bounded. `snapshot` reads a control task the strategies never name, before
and after: the store must answer the same.
"""
from __future__ import annotations

import copy
import http.client
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from hypothesis import strategies as st

from events_service.api.body import deref, properties_of
from events_service.api.schema import ApiSchema
from events_service.api.versions import Version
from events_service.config import DEFAULTS

API = ApiSchema(DEFAULTS["SCHEMA_DIR"])
OPERATIONS = sorted((name, str(v)) for name, versions in API.endpoints.items() for v in versions)
PLACEHOLDERS = ("asctime", "timestamp", "level", "worker", "msg")
MAX_DOWNLOAD = 8 * 1024 * 1024  # more than the seeded log can fill with any accepted line format
# An id no task has when the run starts (the strategies' writes may register it); unique per run,
# so that other tests sharing the database never find it (they use "no-such-task").
UNKNOWN_TASK = f"unknown-{uuid.uuid4().hex}"


@dataclass
class Seed:
    tasks: list[str]                   # tasks the strategies name (events of every type), and one unknown
    control: str                       # a task no strategy names: its reads must not change
    metrics: list[str] = field(default_factory=lambda: ["loss", "acc", "m\u00e9t"])
    variants: list[str] = field(default_factory=lambda: ["total", "v1"])
    projects: list[str] = field(default_factory=list)


def events_of_every_type(task: str) -> list[dict[str, Any]]:
    """Scalars (two metrics, variants, extreme iterations), vectors, images, plots and logs."""
    events: list[dict[str, Any]] = []
    base_ts = 1_700_000_000_000
    for i in range(40):
        for metric, variant in (("loss", "total"), ("acc", "v1"), ("m\u00e9t", "total")):
            events.append({"type": "training_stats_scalar", "task": task, "iter": i, "metric": metric,
                           "variant": variant, "value": i * 0.5, "timestamp": base_ts + i})
    events += [{"type": "training_stats_scalar", "task": task, "iter": it, "metric": "loss", "variant": "v1",
                "value": 1.0} for it in (-2147483648, 2**63 - 1, -(2**63))]
    for i in range(5):
        events.append({"type": "training_stats_vector", "task": task, "iter": i, "metric": "hist",
                       "variant": "total", "values": [1.0, 2.5, i]})
        events.append({"type": "training_debug_image", "task": task, "iter": i, "metric": "img",
                       "variant": "v1", "key": f"k{i}", "url": f"file:///tmp/{task}/{i}.png"})
        events.append({"type": "plot", "task": task, "iter": i, "metric": "roc", "variant": "total",
                       "plot_str": json.dumps({"data": [{"x": [1, 2], "y": [i, i]}]})})
    for i in range(30):
        events.append({"type": "log", "task": task, "timestamp": base_ts + i * 7,
                       "level": ("info", "warning")[i % 2], "worker": f"w{i % 3}",
                       "msg": f"line {i} \u00e9\u4e2d", **({"big": 2**70} if i == 3 else {})})
    return events


def seed(session: requests.Session, base: str) -> Seed:
    """Tasks with events of every type (one of them a task document), a project, a control task."""
    tasks = [uuid.uuid4().hex]
    created = call(session, base, "tasks.create", name=f"fuzz {uuid.uuid4().hex}", type="training")
    tasks.append(created["id"])
    control = uuid.uuid4().hex
    for task in (*tasks, control):
        lines = b"\n".join(json.dumps(e).encode() for e in events_of_every_type(task))
        response = session.post(f"{base}/events.add_batch", data=lines,
                                headers={"Content-Type": "application/json-lines"}, timeout=60)
        assert response.status_code == 200 and response.json()["data"]["errors"] == 0, response.text[:500]
    project = call(session, base, "projects.create", name=f"fuzz {uuid.uuid4().hex}", description="fuzz")
    return Seed(tasks=tasks + [UNKNOWN_TASK], control=control, projects=[project["id"]])


def call(session: requests.Session, base: str, endpoint: str, /, **data: Any) -> Any:
    response = session.post(f"{base}/{endpoint}", json=data, timeout=60)
    assert response.status_code == 200, response.text[:500]
    return response.json()["data"]


# --- the oracle -------------------------------------------------------------------------------

def check(response: requests.Response, started: float | None = None) -> str | None:
    """None when the answer is what any request deserves; else what is wrong with it. The
    response should be streamed (stream=True): a download is read with a cap."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.content[:300]!r}"
    content_type = response.headers.get("Content-Type", "")
    if response.status_code == 200 and content_type.startswith("text/plain"):
        size = 0
        for chunk in response.iter_content(1 << 16):
            size += len(chunk)
            if size > MAX_DOWNLOAD:
                return f"download beyond {MAX_DOWNLOAD} bytes: unbounded"
            if started is not None and time.monotonic() - started > 60:
                return "download still running after 60 s"
        return None
    try:
        body = response.json()
        meta = body["meta"]
    except (ValueError, KeyError, TypeError):
        return f"no ClearML envelope ({response.status_code} {content_type}): {response.content[:200]!r}"
    if meta.get("result_code") != response.status_code:
        return f"result_code {meta.get('result_code')} != HTTP {response.status_code}"
    if response.status_code == 200:
        name = meta["endpoint"]["name"]
        endpoint = API.endpoints[name][Version.parse(str(meta["endpoint"]["actual_version"]))]
        errors = [e.message for e in endpoint.response_validator.iter_errors(body["data"])]
        if errors:
            return f"{name} {endpoint.version}: response not valid: {errors[:2]}"
    elif body.get("data") != {} or not meta.get("result_msg"):
        return f"error without a message or with data: {meta}"
    return None


def send(session: requests.Session, method: str, url: str, **kw: Any) -> str | None:
    """One request through `check`; a connection the server dropped is a failure too."""
    started = time.monotonic()
    try:
        with session.request(method, url, stream=True, timeout=120, **kw) as response:
            return check(response, started)
    except requests.RequestException as exc:
        return f"request failed: {type(exc).__name__}: {exc}"


# --- the control task -------------------------------------------------------------------------

def _without_tokens(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_tokens(v) for k, v in value.items() if k != "scroll_id"}
    if isinstance(value, list):
        return [_without_tokens(v) for v in value]
    return value


def snapshot(session: requests.Session, base: str, task: str) -> dict[str, Any]:
    """What the reads of every kind answer for `task` (scroll tokens left out: they carry a time)."""
    reads = {
        "events": ("events.get_task_events", {"task": task, "batch_size": 1000}),
        "log": ("events.get_task_log", {"task": task, "batch_size": 1000}),
        "log_2_9": ("v2.9/events.get_task_log", {"task": task}),
        "scalars": ("events.scalar_metrics_iter_histogram", {"task": task, "samples": 7}),
        "latest": ("events.get_task_latest_scalar_values", {"task": task}),
        "vector": ("events.vector_metrics_iter_histogram",
                   {"task": task, "metric": "hist", "variant": "total"}),
        "plots": ("events.get_task_plots", {"task": task, "iters": 3}),
        "images": ("v2.7/events.debug_images", {"metrics": [{"task": task, "metric": "img"}], "iters": 3}),
        "metrics": ("events.get_task_metrics", {"tasks": [task]}),
    }
    answers = {key: _without_tokens(call(session, base, endpoint, **data))
               for key, (endpoint, data) in reads.items()}
    download = session.post(f"{base}/events.download_task_log", json={"task": task}, timeout=60)
    answers["download"] = download.text
    return answers


# --- strategies -------------------------------------------------------------------------------

def schema_types(node: dict[str, Any]) -> list[str]:
    kind = node.get("type")
    return kind if isinstance(kind, list) else [kind]


def named_value(name: str, seed: Seed | None) -> Any | None:
    """A seeded value for a field of that name, or None."""
    if seed is None:
        return None
    if name in ("task", "task_id"):
        return seed.tasks[0]
    if name == "tasks":
        return seed.tasks[:2]
    if name == "metric":
        return seed.metrics[0]
    if name == "variant":
        return seed.variants[0]
    if name == "project":
        return seed.projects[0]
    return None


def example(node: dict[str, Any], definitions: dict[str, Any], seed: Seed | None = None,
            name: str = "") -> Any:
    """A small value valid for `node` (required fields only), with the seeded ids in (if any)."""
    named = named_value(name, seed)
    if named is not None:
        return named
    node = deref(node, definitions)
    if "enum" in node:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    kinds = schema_types(node)
    if "object" in kinds:
        props = properties_of(node, definitions)
        return {key: example(props.get(key, {"type": "string"}), definitions, seed, key)
                for key in node.get("required", [])}
    if "array" in kinds:
        return [example(node.get("items", {"type": "string"}), definitions, seed, name)] * \
            max(1, node.get("minItems", 1))
    if "integer" in kinds or "number" in kinds:
        return max(1, node.get("minimum", 1))
    if "boolean" in kinds:
        return False
    return "x"


def field_paths(request: dict[str, Any], definitions: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Paths of every property a request schema names (array items as index 0), and one unknown."""
    paths: list[tuple[Any, ...]] = [("x_fuzz",)]
    stack: list[tuple[tuple[Any, ...], dict[str, Any], int]] = [((), request, 0)]
    while stack:
        path, node, depth = stack.pop()
        node = deref(node, definitions)
        if path:
            paths.append(path)
        if depth > 4:
            continue
        for key, child in properties_of(node, definitions).items():
            stack.append((path + (key,), child, depth + 1))
        if isinstance(node.get("items"), dict) and path:
            stack.append((path + (0,), node["items"], depth + 1))
    return paths


def with_literal(base: Any, path: tuple[Any, ...], literal: str) -> str:
    """The JSON text of `base` with the field at `path` set to the raw JSON text `literal`."""
    marker = f"__FUZZ_{uuid.uuid4().hex}__"
    data = copy.deepcopy(base) if isinstance(base, dict) else {}
    node = data
    for step, following in zip(path, path[1:]):
        if isinstance(node, list):
            while len(node) <= step:
                node.append({})
            if not isinstance(node[step], (dict, list)):
                node[step] = [] if isinstance(following, int) else {}
            node = node[step]
        else:
            if not isinstance(node.get(step), (dict, list)):
                node[step] = [] if isinstance(following, int) else {}
            node = node[step]
    if isinstance(node, list):
        while len(node) <= path[-1]:
            node.append(None)
    node[path[-1]] = marker
    return json.dumps(data).replace(f'"{marker}"', literal)


UNICODE_DIGITS = "\u00b2\u00b3\u00b9\u0660\u0661\u0669\u06f1\u07c1\u0967\u09e7\uff11\uff19\U0001d7ce"
WHITESPACE = " \t\n\r\x0b\x0c\u00a0\u2003\u3000"
LITERALS = [
    "2.0", "1.0", "0.0", "-0.0", "1e2", "10.0", "2.5", "1e400", "-1e400", "1e-400", "5e-324",
    "1.7976931348623157e308", "9" * 400, "-" + "9" * 400, "9" * 5000, "1" + "0" * 4301, "9223372036854775807",
    "9223372036854775808", "-9223372036854775809", "18446744073709551616", "1e19", "-1e19", "NaN", "Infinity",
    "-Infinity", "null", "true", "false", '""', '"\\u0000"', '"\\ud800"', "[]", "{}", '"x"',
]


def literals() -> st.SearchStrategy[str]:
    """JSON texts of hostile values: numbers at and beyond every range, null, deep and wide JSON,
    odd text (Unicode digits, whitespace, NUL, long)."""
    return st.one_of(
        st.sampled_from(LITERALS),
        st.integers().map(str),
        st.integers(min_value=-(2**70), max_value=2**70).map(lambda i: f"{i}.0"),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.integers(1, 3000).map(lambda d: "[" * d + "]" * d),
        st.integers(1, 3000).map(lambda d: '{"a":' * d + "1" + "}" * d),
        st.integers(1, 20_000).map(lambda n: "{" + ",".join(f'"k{i}":{i}' for i in range(n)) + "}"),
        st.integers(1, 50_000).map(lambda n: "[" + ",".join(["1"] * n) + "]"),
        st.text(alphabet=UNICODE_DIGITS + WHITESPACE + "0123456789-+.e", max_size=12).map(json.dumps),
        st.text(max_size=50).map(json.dumps),
        st.integers(1, 200_000).map(lambda n: json.dumps("x" * n)),
    )


def hostile_body(name: str, version: str, seed: Seed) -> st.SearchStrategy[str]:
    """A valid request (seeded ids) with one field set to a hostile literal (nested fields too)."""
    endpoint = API.endpoints[name][Version.parse(version)]
    definitions = API.definitions[name.split(".")[0]]
    request = deref(endpoint.request, definitions)
    base = example(request, definitions, seed)
    paths = field_paths(request, definitions)
    return st.tuples(st.sampled_from(paths), literals()).map(lambda pl: with_literal(base, pl[0], pl[1]))


QUERY_VALUES = ["\u00b2", "\u0661\u0662", "\uff11\uff12", " 1", "1 ", "\t1", "1\n", "+1", "0x10", "1_000",
                "1e400", "9" * 30, "", "null", "None", "true", "True", "-", ".", "1.", ".5", "2.0", "1e2",
                "-0", "\u0663.\u0665"]


def hostile_query(name: str, version: str, seed: Seed) -> st.SearchStrategy[dict[str, Any]]:
    """Query-string fields: a valid request's scalar fields as text, one set to odd text."""
    endpoint = API.endpoints[name][Version.parse(version)]
    definitions = API.definitions[name.split(".")[0]]
    request = deref(endpoint.request, definitions)
    base = {k: v for k, v in example(request, definitions, seed).items() if not isinstance(v, dict)}
    query = {k: json.dumps(v) if isinstance(v, bool) else [str(x) for x in v] if isinstance(v, list)
             else str(v) for k, v in base.items()}
    keys = sorted(set(request.get("properties", {})) | {"x_fuzz"})
    value = st.one_of(st.sampled_from(QUERY_VALUES), st.text(max_size=20),
                      st.text(alphabet=UNICODE_DIGITS + WHITESPACE + "0123456789", min_size=1, max_size=6))
    return st.tuples(st.sampled_from(keys), value).map(lambda kv: {**query, kv[0]: kv[1]})


def event_line(seed: Seed) -> st.SearchStrategy[bytes]:
    """One json-lines line: a valid event of any type on a seeded task, or a broken or extreme one."""
    task = st.sampled_from(seed.tasks)
    number = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(),
                       st.sampled_from([2**63, -(2**63) - 1, 10**400]))
    valid = st.one_of(
        st.builds(lambda t, i, v: {"type": "training_stats_scalar", "task": t, "iter": i, "metric": "loss",
                                   "variant": "total", "value": v},
                  task, st.integers(-(2**63), 2**63 - 1), number),
        st.builds(lambda t, vs: {"type": "training_stats_vector", "task": t, "iter": 1, "metric": "hist",
                                 "variant": "total", "values": vs}, task, st.lists(number, max_size=5)),
        st.builds(lambda t, k: {"type": "training_debug_image", "task": t, "iter": 1, "metric": "img",
                                "variant": "v1", "key": k, "url": f"file:///tmp/{k}"},
                  task, st.text(max_size=10)),
        st.builds(lambda t, p: {"type": "plot", "task": t, "iter": 2, "metric": "roc", "variant": "total",
                                "plot_str": p}, task, st.text(max_size=30)),
        st.builds(lambda t, m, ts, x: {"type": "log", "task": t, "msg": m, "timestamp": ts, "x": x}, task,
                  st.text(max_size=30), st.one_of(st.integers(), st.floats(allow_nan=False)), number),
    )
    broken = st.sampled_from([
        b'{"type": "log", "task"', b"[1]", b"1", b'"x"', b"\xff\xfe{}", b"null", b"{}", b"", b"   ",
        b"\xef\xbb\xbf{}",
        b'{"type": "log", "task": "t", "msg": "\\ud800"}', b'{"type": "log", "task": "t", "msg": "a\\u0000"}',
        b'{"type": "training_stats_scalar", "task": "t", "iter": 1e400}', b'{"type": "log", "msg": NaN}',
        b'{"type": "training_stats_scalar", "task": "t", "iter": ' + b"9" * 5000 + b"}",
        b'{"type": "log", "task": "t", "msg": "x", "deep": ' + b"[" * 200 + b"]" * 200 + b"}",
    ])
    return st.one_of(valid.map(lambda e: json.dumps(e).encode()), broken,
                     st.tuples(task, literals()).map(
                         lambda tl: ('{"type": "log", "task": "%s", "msg": "m", "iter": %s}' % tl).encode()),
                     st.tuples(task, literals()).map(
                         lambda tl: ('{"type": "training_stats_scalar", "task": "%s", "value": %s}'
                                     % tl).encode()))


def json_lines(seed: Seed) -> st.SearchStrategy[bytes]:
    return st.tuples(st.lists(event_line(seed), min_size=1, max_size=20),
                     st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n"])).map(lambda ls: ls[1].join(ls[0]))


def line_format() -> st.SearchStrategy[str]:
    """Format strings for download_task_log: placeholders with specs, widths of any size (Unicode
    digits too), nested fields, broken braces."""
    name = st.sampled_from(PLACEHOLDERS + ("", "0", "x", "msg.upper", "msg[0]"))
    width = st.one_of(st.integers(0, 2000).map(str), st.integers(0, 10**13).map(str),
                      st.sampled_from(["\u0669" * 4, "\uff19" * 3, "1_000", "01"]))
    spec = st.one_of(
        st.builds(lambda a, w: f"{a}{w}", st.sampled_from(["", ">", "<", "^", "=", "*>", "0"]), width),
        st.builds(lambda w, p: f"{w}.{p}", width, width),
        st.builds(lambda n: "{%s}" % n, name),
        st.builds(lambda a, n: "%s>{%s}" % (a, n), st.sampled_from(["", "x"]), name),
        st.builds(lambda n, m: "{%s}.{%s}" % (n, m), name, name),
        st.sampled_from(["d", "x", "e", ",", "s", ".3f", "!r", "%", "\u0000"]),
    )
    piece = st.one_of(
        st.text(alphabet="ab -|:\u00e9", max_size=5),
        st.builds(lambda n: "{%s}" % n, name),
        st.builds(lambda n, s: "{%s:%s}" % (n, s), name, spec),
        st.builds(lambda n, s: "{%s!r:%s}" % (n, s), name, spec),
        st.sampled_from(["{", "}", "{{", "}}", "{msg", "{!r}", "{msg!x}"]),
    )
    return st.lists(piece, min_size=1, max_size=6).map("".join)


def chunked_size(limit: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(limit - 64, limit + 64), st.integers(limit + 1, limit * 4),
                     st.integers(0, limit))


def send_chunked(base: str, path: str, authorization: str, size: int, content_type: str) -> str | None:
    """A chunked body of `size` bytes (json-lines events, cut wherever the size ends), sent while
    the answer is read: a server that answers early (413) is read without waiting for the rest."""
    split = urlsplit(base)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=120)
    line = b'{"type": "log", "task": "t", "msg": "' + b"x" * 200 + b'"}\n'
    body = (line * (size // len(line) + 1))[:size]
    try:
        conn.putrequest("POST", path)
        conn.putheader("Authorization", authorization)
        conn.putheader("Content-Type", content_type)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()

        def write() -> None:
            try:
                for start in range(0, len(body), 1 << 16):
                    piece = body[start:start + (1 << 16)]
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                conn.send(b"0\r\n\r\n")
            except OSError:
                pass  # the server answered and closed: its answer is checked below

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        response = conn.getresponse()
        status, content, kind = response.status, response.read(), response.getheader("Content-Type", "")
        writer.join(timeout=60)
    except (OSError, http.client.HTTPException) as exc:
        return f"chunked request failed: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if status >= 500:
        return f"{status}: {content[:200]!r}"
    try:
        meta = json.loads(content)["meta"]
    except (ValueError, KeyError, TypeError):
        return f"no ClearML envelope ({status} {kind}): {content[:200]!r}"
    if meta["result_code"] != status:
        return f"result_code {meta['result_code']} != HTTP {status}"
    return None


# --- the seeded OpenAPI document for schemathesis ---------------------------------------------

def seeded_openapi(document: dict[str, Any], seed: Seed) -> dict[str, Any]:
    """The service's OpenAPI document with fields named task/tasks/metric/variant/project
    limited to the seeded values, so generated requests name what exists."""
    enums = {"task": seed.tasks, "task_id": seed.tasks, "metric": seed.metrics, "variant": seed.variants,
             "project": seed.projects}

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: rewrite(v) for k, v in node.items()}
        props = out.get("properties")
        if isinstance(props, dict):
            for key, values in enums.items():
                if key in props and isinstance(props[key], dict) and "string" in schema_types(props[key]):
                    props[key] = {"enum": values}
            if isinstance(props.get("tasks"), dict) and "array" in schema_types(props["tasks"]):
                props["tasks"] = {"type": "array", "items": {"enum": seed.tasks}, "maxItems": 3}
        return out

    document = copy.deepcopy(document)
    for path in document["paths"].values():
        body = path["post"]["requestBody"]["content"]["application/json"]
        body["schema"] = rewrite(body["schema"])
    document["components"]["schemas"] = rewrite(document["components"]["schemas"])
    return document


# --- the runs ---------------------------------------------------------------------------------

Action = Callable[[Any], "str | None"]   # one generated value -> a problem, or None


@dataclass
class Job:
    """One class of input for one operation: a strategy and what to do with each value."""
    kind: str          # schemathesis+ | schemathesis- | body | query | json-lines | line-format | chunked
    operation: str
    strategy: st.SearchStrategy[Any]
    action: Action


def jobs(session: requests.Session, base: str, seed: Seed, openapi: Any, authorization: str,
         limit: int) -> list[Job]:
    """Every job of a run; `openapi` is schemathesis' schema of seeded_openapi(...)."""
    from schemathesis import GenerationMode

    def post_text(url: str) -> Action:
        return lambda text: send(session, "POST", url, data=text.encode("utf-8", "surrogatepass"),
                                 headers={"Content-Type": "application/json"})

    def post_case(url: str) -> Action:  # negative generation may give a body of raw bytes
        return lambda case: send(session, "POST", url, headers={"Content-Type": "application/json"},
                                 data=case.body if isinstance(case.body, bytes) else json.dumps(case.body))

    found: list[Job] = []
    for name, version in OPERATIONS:
        path = f"/v{version}/{name}"
        operation = openapi[path]["POST"]
        for mode, kind in ((GenerationMode.POSITIVE, "schemathesis+"),
                           (GenerationMode.NEGATIVE, "schemathesis-")):
            found.append(Job(kind, path, operation.as_strategy(generation_mode=mode), post_case(base + path)))
        found.append(Job("body", path, hostile_body(name, version, seed), post_text(base + path)))
        found.append(Job("query", path, hostile_query(name, version, seed),
                         lambda params, url=base + path: send(session, "GET", url, params=params)))
    found.append(Job("json-lines", "/events.add_batch", json_lines(seed),
                     lambda body: send(session, "POST", f"{base}/events.add_batch", data=body,
                                       headers={"Content-Type": "application/json-lines"})))
    found.append(Job("line-format", "/events.download_task_log",
                     st.tuples(st.sampled_from(seed.tasks), line_format()),
                     lambda tf: send(session, "POST", f"{base}/events.download_task_log",
                                     json={"task": tf[0], "line_type": "text", "line_format": tf[1]})))
    targets = st.sampled_from([("/events.add_batch", "application/json-lines"),
                               ("/events.get_task_events", "application/json"),
                               ("/v2.9/events.get_task_log", "application/json")])
    found.append(Job("chunked", "chunked bodies", st.tuples(targets, chunked_size(limit)),
                     lambda ts: send_chunked(base, ts[0][0], authorization, ts[1], ts[0][1])))
    return found


def run(job: Job, examples: int, report: Callable[[Job, str | None], None]) -> None:
    """`examples` values of the job's strategy through its action; each outcome to `report`
    (which raises to stop at the first failure, as the tests do, or counts, as bench/fuzz.py)."""
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(value=job.strategy)
    def fuzz(value: Any) -> None:
        report(job, job.action(value))

    fuzz()
