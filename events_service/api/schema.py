"""The HOCON API definitions in schema/*.conf, compiled to one jsonschema validator per
(endpoint, version).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, validators
from pyhocon import ConfigFactory

from events_service.api.body import deref, properties_of
from events_service.api.versions import Version


@dataclass(frozen=True)
class EndpointSchema:
    """One version of one endpoint as the schema defines it."""

    name: str
    version: Version
    request: dict[str, Any]
    response: dict[str, Any]
    request_validator: Draft7Validator
    response_validator: Draft7Validator
    batch_of: tuple[str, Version] | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    # Optional top-level fields whose schema does not admit null: sent as null, they are absent
    # (ClearML's own API client sends e.g. "from_timestamp": null when it has no value).
    null_is_absent: frozenset[str] = frozenset()

    @property
    def is_batch(self) -> bool:
        return self.batch_of is not None


def _plain(tree: Any) -> Any:
    """pyhocon trees to plain dicts and lists (jsonschema wants plain JSON types)."""
    if isinstance(tree, dict):
        return {str(k): _plain(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_plain(v) for v in tree]
    return tree


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _is_int64(checker: Any, instance: Any) -> bool:
    return Draft7Validator.TYPE_CHECKER.is_type(instance, "integer") and INT64_MIN <= instance <= INT64_MAX


def _is_double(checker: Any, instance: Any) -> bool:
    """A number a double holds: an integer of 400 digits is a JSON number, but float() of it
    raised OverflowError wherever the value was used as one."""
    if not Draft7Validator.TYPE_CHECKER.is_type(instance, "number"):
        return False
    try:
        float(instance)
    except OverflowError:
        return False
    return True


def _integer_typed(subschema: Any, root: dict[str, Any]) -> bool:
    if not isinstance(subschema, dict):
        return False
    kind = deref(subschema, root.get("definitions", {})).get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    return "integer" in kinds and "number" not in kinds


def _as_integer(value: Any) -> Any:
    """An integral float (10.0) as the integer it equals; anything else unchanged."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


_DRAFT7_PROPERTIES = Draft7Validator.VALIDATORS["properties"]
_DRAFT7_ITEMS = Draft7Validator.VALIDATORS["items"]


def _properties(validator: Any, properties: dict[str, Any], instance: Any, schema: Any) -> Any:
    """Draft 7 `properties`, after replacing an integral float by its integer where the property
    is typed integer: Draft 7 admits 10.0 as an integer, and the float went on into arithmetic
    and SQL (samples=10.0 was a TypeError, a 500). Only integer-typed places change, and 10 is
    valid wherever 10.0 is, so no other check sees a difference."""
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if name in instance and _integer_typed(subschema, validator.schema):
                instance[name] = _as_integer(instance[name])
    yield from _DRAFT7_PROPERTIES(validator, properties, instance, schema)


def _items(validator: Any, items: Any, instance: Any, schema: Any) -> Any:
    """Draft 7 `items`, with the integral floats of an integer-typed array made integers."""
    if isinstance(instance, list) and _integer_typed(items, validator.schema):
        instance[:] = [_as_integer(item) for item in instance]
    yield from _DRAFT7_ITEMS(validator, items, instance, schema)


# Requests: an "integer" must also fit PostgreSQL's bigint, which every integer field is bound as
# (iters, samples, batch_size, page, ...). A bigger one (2**63, 1e300) fails the type check and is
# answered 400/12 naming the field, instead of "bigint out of range" from the database (a 500).
# A "number" must be one a double holds. Integral floats in integer places become integers
# (_properties). The schema files keep their meaning; responses and event validators keep the
# plain Draft 7 types.
RequestValidator = validators.extend(
    Draft7Validator,
    validators={"properties": _properties, "items": _items},
    type_checker=Draft7Validator.TYPE_CHECKER.redefine_many({"integer": _is_int64, "number": _is_double}))


def _compile(schema: dict[str, Any], definitions: dict[str, Any],
             cls: Any = Draft7Validator) -> Draft7Validator:
    full = dict(schema, definitions=definitions)
    Draft7Validator.check_schema(full)
    return cls(full)


def null_is_absent(request: dict[str, Any], definitions: dict[str, Any]) -> frozenset[str]:
    """The optional properties of a request whose schema refuses null (see EndpointSchema)."""
    request = deref(request, definitions)
    required = set(request.get("required", []))
    return frozenset(
        name for name, prop in properties_of(request, definitions).items()
        if name not in required and not Draft7Validator(dict(prop, definitions=definitions)).is_valid(None))


class ApiSchema:
    """Every endpoint version of every service file; built once at start-up."""

    def __init__(self, schema_dir: str | Path):
        self.endpoints: dict[str, dict[Version, EndpointSchema]] = {}
        self.definitions: dict[str, dict[str, Any]] = {}
        self._branches: dict[tuple[str, Version], dict[str, Draft7Validator]] = {}
        for path in sorted(Path(schema_dir).glob("*.conf")):
            self._load_service(path.stem, _plain(ConfigFactory.parse_file(str(path)).as_plain_ordered_dict()))

    def _load_service(self, service: str, tree: dict[str, Any]) -> None:
        definitions = tree.get("_definitions", {})
        self.definitions[service] = definitions
        for action, versions in tree.items():
            if action.startswith("_"):
                continue
            name = f"{service}.{action}"
            for version_text, spec in versions.items():
                version = Version.parse(version_text)
                request = spec.get("request", {"type": "object"})
                response = spec.get("response", {})
                batch = spec.get("batch_request")
                batch_of = ((f"{service}.{batch['action']}", Version.parse(batch["version"]))
                            if batch else None)
                defaults = {
                    key: prop["default"]
                    for key, prop in request.get("properties", {}).items()
                    if isinstance(prop, dict) and "default" in prop
                }
                self.endpoints.setdefault(name, {})[version] = EndpointSchema(
                    name=name, version=version, request=request, response=response,
                    request_validator=_compile(request, definitions, RequestValidator),
                    response_validator=_compile(response, definitions),
                    batch_of=batch_of, defaults=defaults,
                    null_is_absent=null_is_absent(request, definitions),
                )

    def resolve(self, name: str, requested: Version | None) -> EndpointSchema | None:
        """The highest version of `name` not above `requested` (the highest of all when None)."""
        versions = self.endpoints.get(name)
        if not versions:
            return None
        eligible = [v for v in versions if requested is None or v <= requested]
        return versions[max(eligible)] if eligible else None

    def event_validators(self, endpoint: EndpointSchema) -> dict[str, Draft7Validator]:
        """One validator per `anyOf` branch of an event request, keyed by the branch's `type` const.

        Validating against the branch the event's type names gives a precise message ("field
        'iter': 'x' is not of type 'integer'") where the whole anyOf would only say "not valid
        under any of the given schemas".
        """
        cached = self._branches.get((endpoint.name, endpoint.version))
        if cached is None:
            service = endpoint.name.split(".")[0]
            definitions = self.definitions[service]
            cached = {}
            for branch in endpoint.request.get("anyOf", []):
                target = definitions[branch["$ref"].rsplit("/", 1)[-1]] if "$ref" in branch else branch
                const = target.get("properties", {}).get("type", {}).get("const")
                if const:
                    cached[const] = _compile(target, definitions)
            self._branches[(endpoint.name, endpoint.version)] = cached
        return cached

    def batch_item_schema(self, endpoint: EndpointSchema) -> EndpointSchema:
        """The schema each line of a batch endpoint is validated with.

        The seed's add_batch names events.add 1.5, which the schema does not define (add starts
        at 2.1); as the contract says, such a reference resolves to the lowest defined version.
        """
        assert endpoint.batch_of is not None
        name, version = endpoint.batch_of
        item = self.resolve(name, version) or self.endpoints[name][min(self.endpoints[name])]
        return item
