"""List filters in the syntax of Google's APIs (AIP-160), turned into Django `Q` objects.

Supported: `field=value`, `!=`, `<`, `<=`, `>`, `>=`, `field:value` (has; `:*` means present),
joined by AND (or a space), OR and NOT (or a leading `-`), with parentheses. OR binds
tighter than AND, as AIP-160 says. Each listing declares the fields it can filter on.
A filter is bounded in length, comparisons and nesting, so that neither parsing it nor the query
it becomes can exhaust the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from django.db.models import JSONField, Q, Value
from django.db.models.fields.json import KeyTransform

from mlplatform.core.errors import ApplicationError

_TOKEN = re.compile(
    r'\s*(?:(?P<paren>[()])|(?P<op><=|>=|!=|=|<|>|:)|"(?P<quoted>(?:[^"\\]|\\.)*)"'
    r"|(?P<word>[^\s()=!<>:\"]+))"
)
_LOOKUPS = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
MAX_LENGTH = 8192  # characters: room for a long filter that googleapiclient sends in a POST body
MAX_COMPARISONS = 256
MAX_DEPTH = 32  # parentheses and NOTs within each other

FieldFilter = Callable[[str, str, str], Q]  # (name, operator, value) -> Q


def field(path: str, *, cast: Callable[[str], object] = str) -> FieldFilter:
    """A filterable field stored at the ORM `path`; `cast` converts (and validates) values."""

    def to_q(name: str, op: str, value: str) -> Q:
        if op == ":" and value == "*":
            return Q(**{f"{path}__isnull": False})
        try:
            converted = cast(value)
        except (TypeError, ValueError) as exc:
            raise ApplicationError(
                f"'{value}' is not a valid value for {name}: {exc}", field="filter"
            ) from None
        if op == "!=":
            return ~Q(**{path: converted})
        return Q(**{f"{path}__{_LOOKUPS.get(op, 'exact')}": converted})

    return to_q


def map_field(path: str) -> FieldFilter:
    """A JSON object field such as `labels`: filter as `labels.KEY=VALUE` or `labels.KEY:*`."""

    def to_q(name: str, op: str, value: str) -> Q:
        key = name.split(".", 1)[1] if "." in name else ""
        if not key:
            raise ApplicationError(f"Use {path}.KEY to filter on {path}.", field="filter")
        if op == ":" and value == "*":
            return Q(**{f"{path}__has_key": key})
        if op not in ("=", "!=", ":"):
            raise ApplicationError(f"{name} supports =, != and :.", field="filter")
        # The key as an expression, never spliced into a lookup: `a__contains` is a key, not a lookup.
        key_value = KeyTransform(key, path)
        q = Q(key_value.get_lookup("exact")(key_value, Value(value, output_field=JSONField())))
        return ~q if op == "!=" else q

    return to_q


def parse_filter(text: str | None, fields: Mapping[str, FieldFilter]) -> Q:
    """The `Q` for a filter string; an empty filter matches everything."""
    tokens = _tokenize(text or "")
    if not tokens:
        return Q()
    parser = _Parser(tokens, fields)
    q = parser.conjunction()
    if parser.peek() is not None:
        parser.fail(f"unexpected '{parser.peek()[1]}'")
    return q


def _tokenize(text: str) -> list[tuple[str, str]]:
    if len(text) > MAX_LENGTH:
        raise ApplicationError(f"is at most {MAX_LENGTH} characters long.", field="filter")
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ApplicationError(f"cannot parse near '{text[pos : pos + 20]}'.", field="filter")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "quoted":
            kind, value = "value", re.sub(r"\\(.)", r"\1", value)
        elif kind == "word" and value in ("AND", "OR", "NOT"):
            kind = value
        tokens.append((kind, value))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], fields: Mapping[str, FieldFilter]):
        self.tokens, self.fields, self.pos = tokens, fields, 0
        self.depth = self.comparisons = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            self.fail("it ends too early")
        self.pos += 1
        return token

    def fail(self, why: str):
        raise ApplicationError(f"is not a valid filter: {why}.", field="filter")

    def conjunction(self) -> Q:
        q = self.disjunction()
        while (token := self.peek()) is not None and token != ("paren", ")"):
            if token[0] == "AND":
                self.take()
            q &= self.disjunction()
        return q

    def disjunction(self) -> Q:
        q = self.unary()
        while (token := self.peek()) is not None and token[0] == "OR":
            self.take()
            q |= self.unary()
        return q

    def unary(self) -> Q:
        kind, value = self.take()
        if kind == "NOT" or (kind == "paren" and value == "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                self.fail(f"more than {MAX_DEPTH} parentheses and NOTs within each other")
            q = ~self.unary() if kind == "NOT" else self._parenthesized()
            self.depth -= 1
            return q
        if kind != "word":
            self.fail(f"expected a field name, got '{value}'")
        negate = value.startswith("-")
        name = value.removeprefix("-")
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            self.fail(f"more than {MAX_COMPARISONS} comparisons")
        kind, op = self.take()
        if kind != "op":
            self.fail(f"expected a comparison after '{name}'")
        kind, operand = self.take()
        if kind not in ("word", "value"):
            self.fail(f"expected a value after '{name}{op}'")
        q = self._field(name)(name, op, operand)
        return ~q if negate else q

    def _parenthesized(self) -> Q:
        q = self.conjunction()
        if self.take() != ("paren", ")"):
            self.fail("missing ')'")
        return q

    def _field(self, name: str) -> FieldFilter:
        root = name.split(".", 1)[0]
        to_q = self.fields.get(name) or self.fields.get(root)
        if to_q is None:
            raise ApplicationError(
                f"cannot filter on '{name}'; use one of {', '.join(sorted(self.fields))}.",
                field="filter",
            )
        return to_q
