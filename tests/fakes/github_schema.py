"""GitHub's OpenAPI documents (../shared/specs/github-rest.json, github-webhooks.json) for the
fake and the conformance tests: loading, OpenAPI 3.0 → JSON Schema, and *skeletons*.

GitHub's objects carry dozens of required fields jirahooks never reads (a repository has ~80).
The fake and the webhook payload builders start every answer from :func:`skeleton` — the
document's required fields with placeholder values of the declared type (``null`` where the
document allows it) — and lay the fields that matter (ids, hashes, branches, messages, states)
over it. Without the documents (a fresh clone with no ``../shared``) the skeleton is empty and
the answers carry only those fields, which is all the adapter reads.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs"
REST = SPECS / "github-rest.json"
WEBHOOKS = SPECS / "github-webhooks.json"


@functools.cache
def document(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 50:
        node: Any = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
        seen += 1
    return schema


def _sample(doc: dict[str, Any], schema: dict[str, Any], depth: int) -> Any:
    schema = _resolve(doc, schema)
    if depth > 40:
        return None
    if schema.get("nullable") is True:
        return None
    if "allOf" in schema:
        out: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = _sample(doc, part, depth + 1)
            if isinstance(value, dict):
                out.update(value)
        return out
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_resolve(doc, s) for s in schema[key]]
            for option in options:
                if option.get("type") == "null":
                    return None
            return _sample(doc, options[0], depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            return None
        kind = kind[0]
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {
            name: _sample(doc, props.get(name, {}), depth + 1)
            for name in schema.get("required", [])
        }
    if kind == "array":
        count = int(schema.get("minItems") or 0)
        return [_sample(doc, schema.get("items") or {}, depth + 1) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum") or 1)
    if kind == "number":
        return float(schema.get("minimum") or 1)
    if kind == "boolean":
        return False
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        if fmt in ("uri", "uri-template", "url"):
            return "https://example.com/"
        if fmt == "email":
            return "placeholder@example.com"
        return "placeholder"
    return None


def skeleton_of(doc: dict[str, Any] | None, schema: dict[str, Any]) -> Any:
    return _sample(doc, schema, 0) if doc is not None else {}


def rest_response_schema(path: str, method: str, status: str) -> dict[str, Any] | None:
    doc = document(REST)
    if doc is None:
        return None
    answer = _resolve(doc, doc["paths"][path][method]["responses"][status])
    schema: dict[str, Any] = answer["content"]["application/json"]["schema"]
    return schema


def rest_request_schema(path: str, method: str) -> dict[str, Any] | None:
    doc = document(REST)
    if doc is None:
        return None
    body = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
    schema: dict[str, Any] = body["schema"]
    return schema


def rest_skeleton(schema_name: str) -> Any:
    """The skeleton of ``#/components/schemas/<schema_name>`` ({} without the document)."""
    doc = document(REST)
    if doc is None:
        return {}
    return copy.deepcopy(_cached_skeleton(REST, schema_name))


def webhook_skeleton(schema_name: str) -> Any:
    doc = document(WEBHOOKS)
    if doc is None:
        return {}
    return copy.deepcopy(_cached_skeleton(WEBHOOKS, schema_name))


@functools.cache
def _cached_skeleton(path: Path, schema_name: str) -> Any:
    doc = document(path)
    return skeleton_of(doc, {"$ref": f"#/components/schemas/{schema_name}"})


def overlay(base: Any, top: Any) -> Any:
    """``top`` laid over ``base``: dicts merged key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(top, dict):
        out = dict(base)
        for key, value in top.items():
            out[key] = overlay(base.get(key), value) if key in base else value
        return out
    return top


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema for ``jsonschema``: ``nullable: true`` becomes a ``null``
    alternative (jsonschema ignores ``nullable``, and GitHub sends ``null`` a lot)."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


def _merged(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``allOf`` flattened into one object schema (properties and required united)."""
    schema = _resolve(doc, schema)
    if "allOf" not in schema:
        return schema
    props: dict[str, Any] = dict(schema.get("properties") or {})
    required: list[str] = list(schema.get("required") or [])
    for part in schema["allOf"]:
        flat = _merged(doc, part)
        props.update(flat.get("properties") or {})
        required += [r for r in flat.get("required") or [] if r not in required]
    return {"type": "object", "properties": props, "required": required}


def _option(doc: dict[str, Any], schema: dict[str, Any], data: Any) -> dict[str, Any]:
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_merged(doc, s) for s in schema[key]]
            wanted = (
                "object" if isinstance(data, dict) else "array" if isinstance(data, list) else None
            )
            fitting = [
                o
                for o in options
                if wanted
                and (o.get("type") == wanted or (wanted == "object" and "properties" in o))
            ]
            if isinstance(data, dict) and fitting:
                return max(fitting, key=lambda o: len(set(o.get("properties") or {}) & set(data)))
            return fitting[0] if fitting else options[0]
    return schema


def conform(doc: dict[str, Any] | None, schema: dict[str, Any], data: Any, depth: int = 0) -> Any:
    """``data`` completed with the schema's required fields it lacks (placeholders from
    :func:`skeleton_of`), recursively: what jirahooks reads stays as given."""
    if doc is None or data is None or depth > 40:
        return data
    schema = _option(doc, _merged(doc, schema), data)
    schema = _merged(doc, schema)
    if isinstance(data, dict):
        props = schema.get("properties") or {}
        out = dict(data)
        for name in schema.get("required") or []:
            if name not in out:
                out[name] = _sample(doc, props.get(name, {}), depth + 1)
        for name, value in data.items():
            if name in props:
                out[name] = conform(doc, props[name], value, depth + 1)
        return out
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [conform(doc, schema["items"], item, depth + 1) for item in data]
    return data


def rest_conform(schema_name: str, data: Any) -> Any:
    return conform(document(REST), {"$ref": f"#/components/schemas/{schema_name}"}, data)


def webhook_conform(schema_name: str, data: Any) -> Any:
    return conform(document(WEBHOOKS), {"$ref": f"#/components/schemas/{schema_name}"}, data)
