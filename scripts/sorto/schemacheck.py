"""A JSON Schema validator for the keywords the policy schema uses, with jsonschema's messages.

``sorto inject`` validates every policy, and it runs inside build systems:
Yocto's python3-sorto-native and Buildroot's host-python-sorto.  The
``jsonschema`` package pulls ``rpds-py`` in, which is written in Rust, so
depending on it would drag a Rust toolchain into every Buildroot build that
marks executables.  The policy schema needs a handful of keywords; this module
implements exactly those, Draft 2020-12 semantics, and refuses a schema with
any other keyword instead of ignoring it, so a schema change cannot slip past
validation unnoticed.

Messages and the choice of the one error reported follow jsonschema 4
(``best_match`` over the errors sorted by path), so the messages users see
did not change when the dependency went; ``tests/test_policy.py`` checks
both against jsonschema on generated policies.
"""

from __future__ import annotations

import dataclasses
import heapq
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# Keywords that only annotate or hold definitions: nothing to check.
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description", "then", "else"})
_WEAK = frozenset({"anyOf", "oneOf"})
Path = tuple[Any, ...]


@dataclasses.dataclass
class Error:
    """One failed keyword: where (from the root and from the enclosing oneOf), what, and why."""

    path: Path  # relative to the instance the validation started from (jsonschema's error.path)
    absolute_path: Path
    message: str
    keyword: str
    instance: Any
    schema: Mapping[str, Any]
    context: list[Error] = dataclasses.field(default_factory=list)


class SchemaError(Exception):
    """The schema uses a keyword this validator does not implement."""


def _is_type(instance: Any, name: str) -> bool:
    if name == "object":
        return isinstance(instance, Mapping)
    if name == "array":
        return isinstance(instance, list)
    if name == "string":
        return isinstance(instance, str)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if name == "integer":  # Draft 4 and later: 1.0 is an integer
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    if name == "number":
        return isinstance(instance, (int, float))
    raise SchemaError(f"unknown type {name!r}")


def _unbool(value: Any) -> Any:
    if value is True or value is False:
        return ("bool", value)
    return value


def equal(a: Any, b: Any) -> bool:
    """JSON equality: ``True`` is not ``1``, in sequences and mappings too."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, Sequence) and isinstance(b, Sequence):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return _unbool(a) == _unbool(b)


class Validator:
    """Validate instances against one schema (references resolved inside it)."""

    KEYWORDS = frozenset({"type", "enum", "const", "required", "additionalProperties", "properties", "items",
                          "maxItems", "uniqueItems", "minimum", "maximum", "pattern", "$ref", "if", "oneOf",
                          "not"}) | _ANNOTATIONS

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.root = schema
        self._check_keywords(schema)

    def _check_keywords(self, schema: Any) -> None:
        if isinstance(schema, Mapping):
            unknown = set(schema) - self.KEYWORDS
            if unknown:
                raise SchemaError(f"schema keyword(s) not implemented: {', '.join(sorted(unknown))}")
            for key, value in schema.items():
                if key in ("properties", "$defs"):
                    for sub in value.values():
                        self._check_keywords(sub)
                elif key in ("items", "if", "then", "else", "not"):
                    self._check_keywords(value)
                elif key == "oneOf":
                    for sub in value:
                        self._check_keywords(sub)

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#/"):
            raise SchemaError(f"only local references are implemented: {ref!r}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def is_valid(self, instance: Any, schema: Mapping[str, Any] | None = None) -> bool:
        return next(self.iter_errors(instance, schema), None) is None

    def iter_errors(self, instance: Any, schema: Mapping[str, Any] | None = None, path: Path = (),
                    base: Path = ()) -> Iterator[Error]:
        """Every failed keyword, in the schema's keyword order, as jsonschema yields them.

        ``path`` is where ``instance`` sits below the validation's start,
        ``base`` where that start sits in the whole document.
        """
        schema = self.root if schema is None else schema
        for key, value in schema.items():
            if key in _ANNOTATIONS:
                continue
            yield from self._keyword(key, value, instance, schema, path, base)

    def _error(self, key: str, message: str, instance: Any, schema: Mapping[str, Any], path: Path, base: Path,
               context: list[Error] | None = None) -> Error:
        return Error(path, base + path, message, key, instance, schema, context or [])

    def _keyword(self, key: str, value: Any, instance: Any, schema: Mapping[str, Any], path: Path,
                 base: Path) -> Iterator[Error]:
        if key == "type":
            types = [value] if isinstance(value, str) else list(value)
            if not any(_is_type(instance, t) for t in types):
                reprs = ", ".join(repr(t) for t in types)
                yield self._error(key, f"{instance!r} is not of type {reprs}", instance, schema, path, base)
        elif key == "enum":
            if all(not equal(each, instance) for each in value):
                yield self._error(key, f"{instance!r} is not one of {value!r}", instance, schema, path, base)
        elif key == "const":
            if not equal(instance, value):
                yield self._error(key, f"{value!r} was expected", instance, schema, path, base)
        elif key == "required":
            if _is_type(instance, "object"):
                for prop in value:
                    if prop not in instance:
                        yield self._error(key, f"{prop!r} is a required property", instance, schema, path, base)
        elif key == "additionalProperties":
            yield from self._additional(value, instance, schema, path, base)
        elif key == "properties":
            if _is_type(instance, "object"):
                for prop, sub in value.items():
                    if prop in instance:
                        yield from self.iter_errors(instance[prop], sub, path + (prop,), base)
        elif key == "items":
            if _is_type(instance, "array"):
                for index, item in enumerate(instance):
                    yield from self.iter_errors(item, value, path + (index,), base)
        elif key == "maxItems":
            if _is_type(instance, "array") and len(instance) > value:
                what = "is expected to be empty" if value == 0 else "is too long"
                yield self._error(key, f"{instance!r} {what}", instance, schema, path, base)
        elif key == "uniqueItems":
            if value and _is_type(instance, "array") and not _unique(instance):
                yield self._error(key, f"{instance!r} has non-unique elements", instance, schema, path, base)
        elif key == "minimum":
            if _is_type(instance, "number") and instance < value:
                yield self._error(key, f"{instance!r} is less than the minimum of {value!r}", instance, schema,
                                  path, base)
        elif key == "maximum":
            if _is_type(instance, "number") and instance > value:
                yield self._error(key, f"{instance!r} is greater than the maximum of {value!r}", instance, schema,
                                  path, base)
        elif key == "pattern":
            if _is_type(instance, "string") and not re.search(value, instance):
                yield self._error(key, f"{instance!r} does not match {value!r}", instance, schema, path, base)
        elif key == "$ref":
            yield from self.iter_errors(instance, self._resolve(value), path, base)
        elif key == "if":
            branch = "then" if self.is_valid(instance, value) else "else"
            if branch in schema:
                yield from self.iter_errors(instance, schema[branch], path, base)
        elif key == "oneOf":
            yield from self._one_of(value, instance, schema, path, base)
        elif key == "not":
            if self.is_valid(instance, value):
                yield self._error(key, f"{instance!r} should not be valid under {value!r}", instance, schema, path,
                                  base)
        else:
            raise SchemaError(f"schema keyword not implemented: {key}")

    def _additional(self, allowed: Any, instance: Any, schema: Mapping[str, Any], path: Path,
                    base: Path) -> Iterator[Error]:
        if not _is_type(instance, "object"):
            return
        if allowed is not False:
            raise SchemaError("additionalProperties: only false is implemented")
        extras = sorted((k for k in instance if k not in schema.get("properties", {})), key=str)
        if extras:
            verb = "was" if len(extras) == 1 else "were"
            names = ", ".join(repr(e) for e in extras)
            yield self._error("additionalProperties", f"Additional properties are not allowed ({names} {verb} "
                              "unexpected)", instance, schema, path, base)

    def _one_of(self, branches: list[Any], instance: Any, schema: Mapping[str, Any], path: Path,
                base: Path) -> Iterator[Error]:
        valid = []
        context: list[Error] = []
        for sub in branches:
            errs = list(self.iter_errors(instance, sub, (), base + path))
            if errs:
                context.extend(errs)
            else:
                valid.append(sub)
        if not valid:
            yield self._error("oneOf", f"{instance!r} is not valid under any of the given schemas", instance, schema,
                              path, base, context)
        elif len(valid) > 1:
            reprs = ", ".join(repr(s) for s in [*valid[1:], valid[0]])
            yield self._error("oneOf", f"{instance!r} is valid under each of {reprs}", instance, schema, path, base)


def _unique(items: list[Any]) -> bool:
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            if equal(a, b):
                return False
    return True


def _relevance(err: Error) -> tuple[Any, ...]:
    """jsonschema's ``by_relevance``: shallow errors first, then the later sibling, strong keywords, type misses."""
    expected = err.schema.get("type") if isinstance(err.schema, Mapping) else None
    if expected is None:
        matches = False
    else:
        types = [expected] if isinstance(expected, str) else list(expected)
        matches = any(_is_type(err.instance, t) for t in types)
    return (-len(err.path), err.path, err.keyword not in _WEAK, False, not matches)


def best_match(errors: list[Error]) -> Error | None:
    """The error to report, chosen as jsonschema's ``best_match`` chooses it."""
    ordered = sorted(errors, key=lambda e: (len(e.path), [str(p) for p in e.path]))
    best = max(ordered, key=_relevance, default=None)
    while best is not None and best.context:
        smallest = heapq.nsmallest(2, best.context, key=_relevance)
        if len(smallest) == 2 and _relevance(smallest[0]) == _relevance(smallest[1]):
            return best
        best = smallest[0]
    return best
