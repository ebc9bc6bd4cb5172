"""Handlers that change one open-ended section of a task in place: hyper parameters, configuration,
artifacts and the task's models (ClearML's tasks.edit_hyper_params ... tasks.add_or_update_model).

Each section lives in the task's `details` document as the SDK reads it back from tasks.get_by_id:
`hyperparams` {section: {name: item}}, `configuration` {name: item}, `execution.artifacts` [artifact]
(one per key and mode), `models` {input: [{name, model}], output: [...]} (one per name). A change reads
the section under the task's row lock, merges in Python and writes the section whole, so two
concurrent edits of one task are serialised and none is lost.

Who may change them, as in ClearML's server: a task in status created, or with `force` also one in
progress (the SDK sends it for a running script). Hyper parameters of the "properties" section only
(the SDK's user properties) and the task's models change in any status. Lists come back sorted, by
section and name, as ClearML returns them.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from events_service import errors
from events_service.api.call import Call
from events_service.api.registry import endpoint
from events_service.db.queries import tasks as task_queries


PROPERTIES = "properties"


def editable(row: Any, force: bool | None) -> None:
    """400/110 unless the task may be changed (see the module docstring)."""
    allowed = ("created", "in_progress") if force else ("created",)
    if row.status not in allowed:
        raise errors.InvalidTaskStatus("a task can be changed only in status created (or in progress, "
                                       "with force)", task=row.id, status=row.status)


def _locked(call: Call, req: dict[str, Any], any_status: bool = False) -> Any:
    row = task_queries.lock_one(call.db, call.company_key, req["task"])
    if not any_status:
        editable(row, req.get("force"))
    return row


def _properties_only(items: list[dict[str, Any]]) -> bool:
    """Whether every item is of the "properties" section (any case, which is folded, as ClearML does)."""
    for item in items:
        if (item.get("section") or "").lower() == PROPERTIES:
            item["section"] = PROPERTIES
    return bool(items) and all(item.get("section") == PROPERTIES for item in items)


def _section(row: Any, name: str) -> dict[str, Any]:
    """A stored section of the task's document ({} when never written)."""
    return dict(row.details.get(name) or {})


def _save(call: Call, row: Any, **sections: Any) -> None:
    now = datetime.now(timezone.utc)
    task_queries.update_task(call.db, row.key, {"last_change": now, "last_update": now}, sections)


def _documents(call: Call, task_ids: list[str]) -> list[Any]:
    """The caller's tasks in request order; an unknown (or another company's) id is 400/101."""
    rows = {r.id: r for r in task_queries.find_tasks(call.db, call.company_key, ids=task_ids)}
    missing = [t for t in task_ids if t not in rows]
    if missing:
        raise errors.InvalidTaskId(ids=missing)
    return [rows[t] for t in dict.fromkeys(task_ids)]


# --- hyper parameters ---------------------------------------------------------------------------

def _param(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


@endpoint("tasks.edit_hyper_params", "2.9")
def edit_hyper_params(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    for index, item in enumerate(req["hyperparams"]):
        if not item.get("section") or not item.get("name"):
            raise errors.ValidationError(f"field 'hyperparams.{index}': section and name are required")
    row = _locked(call, req, any_status=_properties_only(req["hyperparams"]))
    replace = req.get("replace_hyperparams", "none")
    current: dict[str, dict[str, Any]] = {}
    if replace != "all":
        current = _section(row, "hyperparams")
    if replace == "section":
        for item in req["hyperparams"]:
            current[item["section"]] = {}
    for item in req["hyperparams"]:
        section = dict(current.get(item["section"]) or {})
        section[item["name"]] = _param(item)
        current[item["section"]] = section
    _save(call, row, hyperparams=current)
    return {"updated": 1}


@endpoint("tasks.get_hyper_params", "2.9", reads_only=True)
def get_hyper_params(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    return {"params": [
        {"task": row.id, "hyperparams": [dict(item, section=section, name=name)
                                         for section, items in sorted(_section(row, "hyperparams").items())
                                         for name, item in sorted(items.items())]}
        for row in _documents(call, req["tasks"])]}


@endpoint("tasks.delete_hyper_params", "2.9")
def delete_hyper_params(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    row = _locked(call, req, any_status=_properties_only(req["hyperparams"]))
    current = {s: dict(items) for s, items in _section(row, "hyperparams").items()}
    changed = False
    for key in req["hyperparams"]:
        section, name = key.get("section"), key.get("name")
        if section not in current:
            continue
        if not name:
            del current[section]
            changed = True
        elif current[section].pop(name, None) is not None:
            changed = True
    if changed:
        _save(call, row, hyperparams=current)
    return {"deleted": int(changed)}


# --- configuration ------------------------------------------------------------------------------

@endpoint("tasks.edit_configuration", "2.9")
def edit_configuration(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    for index, item in enumerate(req["configuration"]):
        if not item.get("name"):
            raise errors.ValidationError(f"field 'configuration.{index}.name': a name is required")
    row = _locked(call, req)
    current = {} if req.get("replace_configuration") else _section(row, "configuration")
    current.update((item["name"], _param(item)) for item in req["configuration"])
    _save(call, row, configuration=current)
    return {"updated": 1}


@endpoint("tasks.get_configurations", "2.9", reads_only=True)
def get_configurations(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    names = set(req.get("names") or ())
    return {"configurations": [
        {"task": row.id, "configuration": [dict(item, name=name)
                                           for name, item in sorted(_section(row, "configuration").items())
                                           if not names or name in names]}
        for row in _documents(call, req["tasks"])]}


@endpoint("tasks.get_configuration_names", "2.9", reads_only=True)
def get_configuration_names(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    return {"configurations": [
        {"task": row.id, "names": sorted(name for name, item in _section(row, "configuration").items()
                                         if item.get("value") or not req["skip_empty"])}
        for row in _documents(call, req["tasks"])]}


@endpoint("tasks.delete_configuration", "2.9")
def delete_configuration(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    row = _locked(call, req)
    current = _section(row, "configuration")
    removed = [name for name in req["configuration"] if current.pop(name, None) is not None]
    if removed:
        _save(call, row, configuration=current)
    return {"deleted": int(bool(removed))}


# --- artifacts ----------------------------------------------------------------------------------

def _artifact_key(artifact: dict[str, Any]) -> tuple[str, str]:
    return artifact["key"], artifact.get("mode") or "output"


def _with_artifacts(row: Any, artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    return {**_section(row, "execution"), "artifacts": artifacts}


@endpoint("tasks.add_or_update_artifacts", "2.10")
def add_or_update_artifacts(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    row = _locked(call, req)
    current = {_artifact_key(a): a for a in _section(row, "execution").get("artifacts") or []}
    for artifact in req["artifacts"]:
        current[_artifact_key(artifact)] = {**artifact, "mode": artifact.get("mode") or "output"}
    _save(call, row, execution=_with_artifacts(row, sorted(current.values(), key=lambda a: a["key"])))
    return {"updated": 1}


@endpoint("tasks.delete_artifacts", "2.10")
def delete_artifacts(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    row = _locked(call, req)
    gone = {_artifact_key(a) for a in req["artifacts"]}
    artifacts = _section(row, "execution").get("artifacts") or []
    kept = [a for a in artifacts if _artifact_key(a) not in gone]
    if len(kept) != len(artifacts):
        _save(call, row, execution=_with_artifacts(row, kept))
    return {"deleted": int(len(kept) != len(artifacts))}


# --- the task's models --------------------------------------------------------------------------

def _models(row: Any) -> dict[str, list[dict[str, Any]]]:
    models = row.details.get("models") or {}
    return {"input": list(models.get("input") or []), "output": list(models.get("output") or [])}


@endpoint("tasks.add_or_update_model", "2.13")
def add_or_update_model(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    """The model is listed under its name (replacing the entry of that name), in any status of the task;
    the model itself is not looked up, as in ClearML, so a task may name a model of a registry
    elsewhere."""
    row = _locked(call, req, any_status=True)
    models = _models(row)
    entries = [m for m in models[req["type"]] if m.get("name") != req["name"]]
    models[req["type"]] = entries + [{"name": req["name"], "model": req["model"]}]
    _save(call, row, models=models)
    if req.get("iteration") is not None and req["iteration"] > (row.last_iteration or 0):
        task_queries.raise_last_iteration(call.db, row.key, req["iteration"])
    return {"updated": 1}


@endpoint("tasks.delete_models", "2.13")
def delete_models(call: Call, req: dict[str, Any]) -> dict[str, Any]:
    row = _locked(call, req, any_status=True)
    models = _models(row)
    gone = {(m["type"], m["name"]) for m in req["models"]}
    kept = {kind: [m for m in entries if (kind, m.get("name")) not in gone]
            for kind, entries in models.items()}
    changed = kept != models
    if changed:
        _save(call, row, models=kept)
    return {"updated": int(changed)}
