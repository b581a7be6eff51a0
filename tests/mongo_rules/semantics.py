"""mongod 7.0's value semantics, as far as the rule plugin needs them to second-guess the embedded engine.

* `compare`: BSON comparison order (canonical type brackets, then values), as mongod sorts and compares;
* `match`: a three-valued (True / False / None = "not sure") mongod matcher for the common operators.
  It answers None instead of guessing wherever mongod's rules get subtle (missing fields through arrays,
  geo, $expr, $where, $text, bit tests), so a difference it reports is one it is sure of;
* `sort_key`: the value a document sorts by (min element ascending, max descending for arrays);
* `index_keys`: the keys a document has in a unique index (null for missing, one key per array element);

Adapted from the reference checker in ../shared/tools/mongo-rules (the rules that refuse a command by its
arguments, or by the document it updates, moved into the engine: app.core.embedded_rules/_fidelity).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import math
import operator
import re
from collections.abc import Mapping
from typing import Any

import bson
from bson import ObjectId
from bson.binary import Binary
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.regex import Regex
from bson.timestamp import Timestamp


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | bson.Int64 | bson.Decimal128) and not isinstance(value, bool)


def is_operator_doc(value: Any) -> bool:
    """mongod reads an object as operators when its FIRST field name starts with '$'."""
    return isinstance(value, Mapping) and bool(value) and str(next(iter(value))).startswith("$")


def split_path(path: str) -> list[str]:
    return path.split(".")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


def canonical(value: Any) -> int:
    if value is MISSING or value is None:
        return 5
    if isinstance(value, MinKey):
        return 1
    if isinstance(value, MaxKey):
        return 100
    if isinstance(value, bool):
        return 40
    if is_number(value):
        return 10
    if isinstance(value, str):
        return 15
    if isinstance(value, Mapping):
        return 20
    if isinstance(value, (list, tuple)):
        return 25
    if isinstance(value, (bytes, Binary)):
        return 30
    if isinstance(value, ObjectId):
        return 35
    if isinstance(value, datetime.datetime):
        return 45
    if isinstance(value, Timestamp):
        return 47
    if isinstance(value, (re.Pattern, Regex)):
        return 50
    return 200  # unknown Python type


def _num(value: Any) -> decimal.Decimal | float:
    if isinstance(value, bson.Decimal128):
        return value.to_decimal()
    return value


def _utc(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value


def compare(a: Any, b: Any) -> int:
    ca, cb = canonical(a), canonical(b)
    if ca != cb:
        return -1 if ca < cb else 1
    if ca == 5 or ca in (1, 100):
        return 0
    if ca == 10:
        x, y = _num(a), _num(b)
        xf, yf = float(x), float(y)
        if math.isnan(xf) or math.isnan(yf):
            if math.isnan(xf) and math.isnan(yf):
                return 0
            return -1 if math.isnan(xf) else 1
        if isinstance(x, decimal.Decimal) or isinstance(y, decimal.Decimal):
            x, y = decimal.Decimal(str(x)), decimal.Decimal(str(y))
        return (x > y) - (x < y)
    if ca == 15:
        xa, xb = a.encode(), b.encode()
        return (xa > xb) - (xa < xb)
    if ca == 20:
        ia, ib = list(a.items()), list(b.items())
        for (ka, va), (kb, vb) in zip(ia, ib, strict=False):
            c = canonical(va) - canonical(vb)
            if c:
                return -1 if c < 0 else 1
            if ka != kb:
                ka_b, kb_b = str(ka).encode(), str(kb).encode()
                return -1 if ka_b < kb_b else 1
            c = compare(va, vb)
            if c:
                return c
        return (len(ia) > len(ib)) - (len(ia) < len(ib))
    if ca == 25:
        for va, vb in zip(a, b, strict=False):
            c = canonical(va) - canonical(vb)
            if c:
                return -1 if c < 0 else 1
            c = compare(va, vb)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if ca == 30:
        ba, bb = bytes(a), bytes(b)
        if len(ba) != len(bb):
            return -1 if len(ba) < len(bb) else 1
        sa, sb = getattr(a, "subtype", 0), getattr(b, "subtype", 0)
        if sa != sb:
            return -1 if sa < sb else 1
        return (ba > bb) - (ba < bb)
    if ca == 35:
        return (a.binary > b.binary) - (a.binary < b.binary)
    if ca == 40:
        return (a > b) - (a < b)
    if ca == 45:
        x, y = _utc(a), _utc(b)
        x = x.replace(microsecond=x.microsecond // 1000 * 1000)
        y = y.replace(microsecond=y.microsecond // 1000 * 1000)
        return (x > y) - (x < y)
    if ca == 47:
        return (a > b) - (a < b)
    if ca == 50:
        pa = a.pattern if not isinstance(a, str) else a
        pb = b.pattern if not isinstance(b, str) else b
        return (pa > pb) - (pa < pb)
    return 0 if a == b else (1 if repr(a) > repr(b) else -1)


def equal(a: Any, b: Any) -> bool:
    return canonical(a) == canonical(b) and compare(a, b) == 0


# ----------------------------------------------------------------------------------------------------
# paths


class Resolved:
    """The values a dotted path reaches in a document, and whether the walk was simple."""

    __slots__ = ("missing", "through_array", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.missing = False  # some branch did not reach the end
        self.through_array = False  # an array was met before the last component


def resolve(doc: Any, path: str) -> Resolved:
    out = Resolved()
    _resolve(doc, split_path(path), out)
    return out


def _resolve(node: Any, parts: list[str], out: Resolved) -> None:
    if not parts:
        out.values.append(node)
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, Mapping):
        if head in node:
            _resolve(node[head], rest, out)
        else:
            out.missing = True
        return
    if isinstance(node, (list, tuple)):
        out.through_array = True
        if head.isdigit():
            i = int(head)
            if i < len(node):
                _resolve(node[i], rest, out)
            else:
                out.missing = True
            return
        found = False
        for element in node:
            if isinstance(element, Mapping):
                found = True
                _resolve(element, parts, out)
            else:
                out.missing = True
        if not found:
            out.missing = True
        return
    out.missing = True


# ----------------------------------------------------------------------------------------------------
# matching (three-valued)


def _and(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    if any(v is None for v in values):
        return None
    return True


def _or(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    if any(v is None for v in values):
        return None
    return False


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def match(doc: Mapping[str, Any], flt: Mapping[str, Any]) -> bool | None:
    results: list[bool | None] = []
    for key, value in flt.items():
        if key == "$and":
            results.append(_and([match(doc, e) for e in value]))
        elif key == "$or":
            results.append(_or([match(doc, e) for e in value]))
        elif key == "$nor":
            results.append(_not(_or([match(doc, e) for e in value])))
        elif key == "$comment":
            continue
        elif isinstance(key, str) and key.startswith("$"):
            return None  # $expr, $where, $text, $jsonSchema...
        else:
            results.append(_match_field(doc, key, value))
        if results and results[-1] is False:
            return False
    return _and(results)


def _match_field(doc: Mapping[str, Any], path: str, condition: Any) -> bool | None:
    resolved = resolve(doc, path)
    if is_operator_doc(condition):
        parts = []
        for op, arg in condition.items():
            if op == "$options":
                continue
            parts.append(_op(resolved, op, arg, condition))
        return _and(parts)
    if isinstance(condition, (re.Pattern, Regex)):
        return _regex(resolved, condition, None)
    return _eq(resolved, condition)


def _leaf_candidates(resolved: Resolved) -> list[Any]:
    """Each reached value, and the elements of reached arrays (one level), as mongod compares them."""
    out: list[Any] = []
    for v in resolved.values:
        out.append(v)
        if isinstance(v, (list, tuple)):
            out.extend(v)
    return out


def _eq(resolved: Resolved, value: Any) -> bool | None:
    if value is None:
        if any(v is None for v in _leaf_candidates(resolved)):
            return True
        if resolved.missing:
            return None if resolved.through_array else True
        return False
    if isinstance(value, (re.Pattern, Regex)):
        return _regex(resolved, value, None)
    return bool(any(equal(v, value) for v in _leaf_candidates(resolved)))


def _in(resolved: Resolved, values: list[Any] | tuple[Any, ...]) -> bool | None:
    """`_or` of `_eq` with each value; plain values are looked up by `_bucket` (a filter_diff pass tests
    every stored document against one `$in` list: n documents x m values `equal` calls otherwise)."""
    plain, special = _in_buckets(values)
    hit = any(
        equal(candidate, value)
        for candidate in _leaf_candidates(resolved)
        for value in plain.get(_bucket(candidate), ())
    )
    return _or([hit, *(_eq(resolved, value) for value in special)])


_in_cache: list[Any] = [None, (), {}, []]  # the last `$in` list, its items, and its buckets


def _in_buckets(values: list[Any] | tuple[Any, ...]) -> tuple[dict[Any, list[Any]], list[Any]]:
    cached, items, plain, special = _in_cache
    if cached is values and len(items) == len(values) and all(map(operator.is_, items, values)):
        return plain, special
    plain, special = {}, []
    for value in values:
        if value is None or isinstance(value, (re.Pattern, Regex)):
            special.append(value)
        else:
            plain.setdefault(_bucket(value), []).append(value)
    _in_cache[:] = [values, tuple(values), plain, special]
    return plain, special


def _regex(resolved: Resolved, pattern: Any, options: str | None) -> bool | None:
    if isinstance(pattern, Regex):
        try:
            pattern = pattern.try_compile()
        except re.error:
            return None
    if isinstance(pattern, str):
        flags = 0
        for ch in options or "":
            flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}.get(ch, 0)
        try:
            pattern = re.compile(pattern, flags)
        except re.error:
            return None
    for v in _leaf_candidates(resolved):
        if isinstance(v, str) and pattern.search(v):
            return True
        if isinstance(v, (re.Pattern, Regex)):
            return None
    return False


def _op(resolved: Resolved, op: str, arg: Any, whole: Mapping[str, Any]) -> bool | None:
    if op == "$eq":
        return _eq(resolved, arg)
    if op == "$ne":
        return _not(_eq(resolved, arg))
    if op == "$in":
        if not isinstance(arg, (list, tuple)):
            return None
        return _in(resolved, arg)
    if op == "$nin":
        if not isinstance(arg, (list, tuple)):
            return None
        return _not(_in(resolved, arg))
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(arg, (MinKey, MaxKey)):
            return None
        if arg is None:
            return _eq(resolved, None) if op in ("$gte", "$lte") else False
        hits = []
        for v in _leaf_candidates(resolved):
            if canonical(v) != canonical(arg):
                continue
            c = compare(v, arg)
            hits.append({"$gt": c > 0, "$gte": c >= 0, "$lt": c < 0, "$lte": c <= 0}[op])
        return any(hits)
    if op == "$exists":
        found = bool(resolved.values)
        if resolved.through_array and resolved.missing and not found:
            return None
        return found if arg else not found
    if op == "$type":
        wanted = arg if isinstance(arg, (list, tuple)) else [arg]
        return any(
            _type_matches(v, t, is_leaf_array_element=False) for v in resolved.values for t in wanted
        ) or any(
            _type_matches(e, t, is_leaf_array_element=True)
            for v in resolved.values
            if isinstance(v, (list, tuple))
            for e in v
            for t in wanted
        )
    if op == "$size":
        if not is_number(arg):
            return None
        return any(isinstance(v, (list, tuple)) and len(v) == arg for v in resolved.values)
    if op == "$all":
        if not isinstance(arg, (list, tuple)):
            return None
        if not arg:
            return False
        if any(isinstance(a, Mapping) and "$elemMatch" in a for a in arg):
            return None
        return _and([_eq(resolved, a) for a in arg])
    if op == "$elemMatch":
        if not isinstance(arg, Mapping):
            return None
        results: list[bool | None] = []
        for v in resolved.values:
            if not isinstance(v, (list, tuple)):
                continue
            for element in v:
                if is_operator_doc(arg) and not any(k in ("$and", "$or", "$nor") for k in arg):
                    single = Resolved()
                    single.values = [element]
                    if isinstance(element, (list, tuple)):
                        return None  # nested arrays: mongod's rule is subtle
                    results.append(_and([_op(single, o, a, arg) for o, a in arg.items()]))
                elif isinstance(element, Mapping):
                    results.append(match(element, arg))
                else:
                    results.append(False)
        return _or(results)
    if op == "$regex":
        return _regex(resolved, arg, whole.get("$options"))
    if op == "$not":
        if isinstance(arg, (re.Pattern, Regex)):
            return _not(_regex(resolved, arg, None))
        if not is_operator_doc(arg):
            return None
        return _not(_and([_op(resolved, o, a, arg) for o, a in arg.items() if o != "$options"]))
    return None  # $mod, $bits*, geo, $comment...


_TYPE_OF = {
    "double": lambda v: isinstance(v, float),
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, (list, tuple)),
    "binData": lambda v: isinstance(v, (bytes, Binary)),
    "objectId": lambda v: isinstance(v, ObjectId),
    "bool": lambda v: isinstance(v, bool),
    "date": lambda v: isinstance(v, datetime.datetime),
    "null": lambda v: v is None,
    "regex": lambda v: isinstance(v, (re.Pattern, Regex)),
    "int": lambda v: isinstance(v, int) and not isinstance(v, (bool, bson.Int64)) and -(2**31) <= v < 2**31,
    "long": lambda v: (
        isinstance(v, bson.Int64)
        or (isinstance(v, int) and not isinstance(v, bool) and not -(2**31) <= v < 2**31)
    ),
    "decimal": lambda v: isinstance(v, bson.Decimal128),
    "timestamp": lambda v: isinstance(v, Timestamp),
    "number": lambda v: is_number(v),
}
_CODE_TO_ALIAS = {
    1: "double", 2: "string", 3: "object", 4: "array", 5: "binData", 7: "objectId", 8: "bool", 9: "date",
    10: "null", 11: "regex", 16: "int", 17: "timestamp", 18: "long", 19: "decimal",
}  # fmt: skip


def _type_matches(value: Any, wanted: Any, *, is_leaf_array_element: bool) -> bool:
    alias = _CODE_TO_ALIAS.get(int(wanted)) if is_number(wanted) else wanted
    test = _TYPE_OF.get(alias) if isinstance(alias, str) else None
    if test is None:
        return False
    if alias == "array" and is_leaf_array_element:
        return isinstance(value, (list, tuple))
    return bool(test(value))


# ----------------------------------------------------------------------------------------------------
# sorting


def sort_value(doc: Mapping[str, Any], path: str, direction: int) -> Any:
    resolved = resolve(doc, path)
    candidates: list[Any] = []
    for v in resolved.values:
        if isinstance(v, (list, tuple)):
            if not v:
                candidates.append(_EmptyArray())
            candidates.extend(v)
        else:
            candidates.append(v)
    if resolved.missing or not resolved.values:
        candidates.append(None)
    if not candidates:
        return None
    key = functools.cmp_to_key(_compare_sort)
    return min(candidates, key=key) if direction > 0 else max(candidates, key=key)


class _EmptyArray:
    """An empty array sorts before null in mongod."""


def _compare_sort(a: Any, b: Any) -> int:
    ea, eb = isinstance(a, _EmptyArray), isinstance(b, _EmptyArray)
    if ea or eb:
        return 0 if ea and eb else (-1 if ea else 1)
    return compare(a, b)


def sort_documents(docs: list[Mapping[str, Any]], spec: list[tuple[str, int]]) -> list[Mapping[str, Any]]:
    def cmp(x: Mapping[str, Any], y: Mapping[str, Any]) -> int:
        for path, direction in spec:
            c = _compare_sort(sort_value(x, path, direction), sort_value(y, path, direction))
            if c:
                return c if direction > 0 else -c
        return 0

    return sorted(docs, key=functools.cmp_to_key(cmp))


def sort_signature(doc: Mapping[str, Any], spec: list[tuple[str, int]]) -> tuple[Any, ...]:
    return tuple(_sig(sort_value(doc, path, direction)) for path, direction in spec)


def _sig(value: Any) -> Any:
    if isinstance(value, _EmptyArray):
        return ("[]",)
    if isinstance(value, datetime.datetime):
        return (45, _utc(value).replace(microsecond=value.microsecond // 1000 * 1000))
    if is_number(value):
        return (10, float(_num(value)))
    return (canonical(value), repr(value))


# ----------------------------------------------------------------------------------------------------
# unique indexes


def index_keys(
    doc: Mapping[str, Any], keys: list[tuple[str, Any]], *, sparse: bool, partial: Any
) -> list[tuple[Any, ...]] | None:
    """The key tuples `doc` has in the index, or None when it is not indexed (or when unsure: [])."""
    if partial is not None:
        m = match(doc, partial)
        if m is None:
            return []
        if not m:
            return None
    per_field: list[list[Any]] = []
    any_present = False
    for path, _ in keys:
        resolved = resolve(doc, path)
        values: list[Any] = []
        for v in resolved.values:
            any_present = True
            if isinstance(v, (list, tuple)):
                values.extend(v if v else [_EmptyArray()])
            else:
                values.append(v)
        if not values:
            values = [None]
        per_field.append(values)
    if sparse and not any_present:
        return None
    out: list[tuple[Any, ...]] = [()]
    for values in per_field:
        out = [(*prefix, v) for prefix in out for v in values]
    return out


def key_bucket(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A hashable coarsening of an index key: `key_equal` keys always share a bucket (keys in one bucket
    may still differ), so a unique check compares a key with its bucket only, not with every key."""
    return tuple(_bucket(value) for value in key)


def _bucket(value: Any) -> Any:
    if isinstance(value, _EmptyArray):
        return ("[]",)
    kind = canonical(value)
    if kind == 10:
        number = float(_num(value))
        return (10, "nan") if math.isnan(number) else (10, number)
    if kind == 15:
        return (15, value)
    if kind == 35:
        return (35, value.binary)
    if kind == 40:
        return (40, bool(value))
    if kind == 45:
        utc = _utc(value)
        return (45, utc.replace(microsecond=utc.microsecond // 1000 * 1000))
    return (kind,)  # documents, arrays, binaries…: one bucket per type, compared in full


def key_equal(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    for x, y in zip(a, b, strict=False):
        if isinstance(x, _EmptyArray) or isinstance(y, _EmptyArray):
            if not (isinstance(x, _EmptyArray) and isinstance(y, _EmptyArray)):
                return False
            continue
        if not equal(x, y):
            return False
    return True
