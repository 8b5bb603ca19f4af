"""A small declarative schema reader: dataclass fields, declared once, drive validation.

``read(cls, data, path)`` turns plain dicts (from YAML, TOML or JSON) into frozen dataclasses and
collects every problem with the exact path to the bad value (``rules[2].checks.naming``) and a
hint, so a whole document is reported at once. Field metadata:

* ``doc``: one line for docs/rules.md and for hints;
* ``check``: a callable ``value -> str | None`` returning an error message for bad values;
* ``hint``: what to write instead.

A dataclass may also check what no single field can (one field naming another's entries): a
method ``schema_problems()`` returning ``(path below the dataclass, message, hint)`` triples,
asked once every field has read cleanly.

Every text value (and mapping key) passes ``jirahooks.textcheck``: no NUL, no lone surrogate,
no control character except tab and line breaks, at most ``MAX_TEXT`` characters. So whatever
reads rules — the admin API, the web forms, ``apply``, local hooks — rejects text that could
not be stored or shown, with the path of the bad value.

Standard library only, so loading rules on the hook path stays cheap (no pydantic).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin

from jirahooks.errors import ConfigProblem
from jirahooks.textcheck import scrub, text_problem

T = TypeVar("T")
Check = Callable[[Any], "str | None"]

MAX_TEXT = 20_000
"""Longest text value of a rule or configuration document (a JQL, a description)."""
_TEXT_HINT = "write plain text: no NUL, no control characters except tab and line breaks"


def field(
    default: Any = dataclasses.MISSING,
    *,
    doc: str = "",
    check: Check | None = None,
    hint: str = "",
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field with schema metadata."""
    metadata = {"doc": doc, "check": check, "hint": hint}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def did_you_mean(name: str, known: Iterable[str], otherwise: str = "") -> str:
    """The hint for a name that is not one of ``known``: "did you mean 'x'?" for a close one
    (``difflib``'s ratio), else ``otherwise``."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean '{close[0]}'?" if close else otherwise


class Reader:
    """Collects problems while reading; one per document."""

    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []

    def problem(self, path: str, message: str, hint: str = "") -> None:
        # Messages quote the offending input: never let them carry what cannot be rendered.
        self.problems.append(ConfigProblem(scrub(path), scrub(message), scrub(hint)))

    def text(self, value: str, path: str) -> bool:
        """Whether ``value`` is acceptable text; records the problem when it is not."""
        problem = text_problem(value, max_length=MAX_TEXT)
        if problem is None:
            return True
        self.problem(path, problem, _TEXT_HINT)
        return False

    def read(self, cls: type[T], data: Any, path: str) -> T | None:
        """Read ``data`` as dataclass ``cls``; ``None`` (with problems recorded) when invalid."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.problem(path or "(top level)", f"expected a mapping, got {_kind(data)}")
            return None
        hints = _hints(typing.cast(Any, cls))
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
        values: dict[str, Any] = {}
        ok = True
        for raw_key, raw_value in data.items():
            key = str(raw_key)
            sub = _join(path, key)
            if not self.text(key, sub):
                ok = False
                continue
            f = fields.get(key)
            if f is None:
                self.problem(
                    sub,
                    "unknown field",
                    did_you_mean(key, fields, f"known fields: {', '.join(fields)}"),
                )
                ok = False
                continue
            before = len(self.problems)
            value = self.convert(hints[key], raw_value, sub, f.metadata.get("hint", ""))
            if len(self.problems) > before:
                ok = False
                continue
            check = f.metadata.get("check")
            if check is not None:
                message = check(value)
                if message:
                    self.problem(sub, message, f.metadata.get("hint", ""))
                    ok = False
                    continue
            values[key] = value
        for name, f in fields.items():
            if (
                name not in data
                and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING
            ):
                self.problem(
                    _join(path, name), "required field is missing", f.metadata.get("hint", "")
                )
                ok = False
        if not ok:
            return None
        obj = cls(**values)
        cross = getattr(obj, "schema_problems", None)
        if cross is not None:
            found = list(cross())
            for sub, message, hint in found:
                self.problem(_join(path, sub), message, hint)
            if found:
                return None
        return obj

    def convert(self, tp: Any, value: Any, path: str, hint: str = "") -> Any:
        origin = get_origin(tp)
        args = get_args(tp)
        if origin in (Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            return self.convert(inner[0], value, path, hint)
        if tp is Any:
            return value
        if origin in (tuple, frozenset, list):
            if isinstance(value, str | int) and not isinstance(value, bool):
                value = [value]  # a single value where a list is expected
            if not isinstance(value, list | tuple):
                self.problem(path, f"expected a list, got {_kind(value)}", hint)
                return None
            item_tp = args[0]
            items = [self.convert(item_tp, v, f"{path}[{i}]", hint) for i, v in enumerate(value)]
            return frozenset(items) if origin is frozenset else tuple(items)
        if origin in (dict, Mapping) or tp is dict:
            if not isinstance(value, Mapping):
                self.problem(path, f"expected a mapping, got {_kind(value)}", hint)
                return None
            return {
                str(k): self.convert(args[1], v, _join(path, str(k)), hint)
                for k, v in value.items()
                if self.text(str(k), _join(path, str(k)))
            }
        if isinstance(tp, type) and issubclass(tp, Enum):
            choices = [str(m.value) for m in tp]
            if isinstance(value, str):
                for member in tp:
                    if member.value.lower() == value.strip().lower().replace("-", "_"):
                        return member
            self.problem(path, f"'{value}' is not one of {', '.join(choices)}", hint)
            return None
        if dataclasses.is_dataclass(tp):
            return self.read(tp, value, path)  # type: ignore[arg-type]
        if tp is bool:
            if isinstance(value, bool):
                return value
            self.problem(path, f"expected true or false, got {_kind(value)}", hint)
            return None
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            self.problem(path, f"expected a whole number, got {_kind(value)}", hint)
            return None
        if tp is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            self.problem(path, f"expected a number, got {_kind(value)}", hint)
            return None
        if tp is str:
            if isinstance(value, str):
                return value if self.text(value, path) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
            self.problem(path, f"expected text, got {_kind(value)}", hint)
            return None
        raise TypeError(f"schema: unsupported type {tp!r} at {path}")  # a bug, not user input


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float):
        return f"a number ({value})"
    return f"text ('{value}')" if isinstance(value, str) else type(value).__name__


def dump(obj: Any) -> Any:
    """A dataclass tree back to plain data (enums as values, tuples as lists), dropping defaults."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            default = (
                f.default
                if f.default is not dataclasses.MISSING
                else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            )
            if value == default and f.name != "id":
                continue
            out[f.name] = dump(value)
        return out
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, frozenset):
        return sorted(dump(v) for v in obj)
    if isinstance(obj, list | tuple):
        return [dump(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: dump(v) for k, v in obj.items()}
    return obj


def json_schema(
    cls: Any, *, exclude: tuple[str, ...] = (), required: bool = True
) -> dict[str, Any]:
    """The JSON Schema of what ``Reader.read(cls, …)`` accepts, from the same dataclass fields
    (types, defaults, ``doc``), so the admin API's OpenAPI document cannot drift from the
    reader. The reader stays the validator: checks (regular expressions, JQL, globs) are not
    expressed here, and their problems come back as 422 with the path of the bad value."""
    hints = _hints(cls)
    properties: dict[str, Any] = {}
    needed: list[str] = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name in exclude:
            continue
        schema = _type_schema(hints[f.name])
        if f.metadata.get("doc"):
            schema = {**schema, "description": f.metadata["doc"]}
        properties[f.name] = schema
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            needed.append(f.name)
    out: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required and needed:
        out["required"] = needed
    return out


def _type_schema(tp: Any) -> dict[str, Any]:
    """One field type as JSON Schema, as lenient as ``Reader.convert``."""
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (Union, types.UnionType):
        inner = _type_schema(next(a for a in args if a is not type(None)))
        return {"anyOf": [inner, {"type": "null"}]} if type(None) in args else inner
    if tp is Any:
        return {}
    if origin in (tuple, frozenset, list):
        item = _type_schema(args[0])
        array: dict[str, Any] = {"type": "array", "items": item}
        if args[0] in (str, int) or (isinstance(args[0], type) and issubclass(args[0], Enum)):
            return {"anyOf": [array, item]}  # a single value where a list is expected
        return array
    if origin in (dict, Mapping) or tp is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1]) if args else {}}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {
            "type": "string",
            "enum": [str(m.value) for m in tp],
            "description": "case does not matter; '-' reads as '_'",
        }
    if dataclasses.is_dataclass(tp):
        return json_schema(tp)
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": ["string", "number"], "maxLength": MAX_TEXT}  # a number reads as text
    raise TypeError(f"schema: unsupported type {tp!r}")  # a bug, not user input
