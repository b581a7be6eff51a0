"""What mongod 7.0 stores after an update and answers to a pipeline, for what the plugin models.

`apply_update(pre, update, inserting)` returns the post-image mongod would store, or None when the
update uses something this module does not model ($pull, positional paths, $currentDate, $$NOW...).
`same(a, b)` compares two stored documents value by value with BSON types (int vs double differ, a
datetime compares at millisecond precision, field order is ignored); it returns the first difference.
"""

from __future__ import annotations

import copy
import datetime
import math
from collections.abc import Mapping
from typing import Any

import bson

from tests.mongo_rules.semantics import (
    MISSING,
    canonical,
    compare,
    equal,
    is_number,
    is_operator_doc,
    match,
    sort_documents,
    split_path,
)


class Unknown(Exception):
    pass


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, Mapping):
            if part not in node:
                return MISSING
            node = node[part]
        elif isinstance(node, list) and part.isdigit():
            i = int(part)
            if i >= len(node):
                return MISSING
            node = node[i]
        else:
            return MISSING
    return node


def _parent(doc: Any, parts: list[str], create: bool) -> Any:
    node = doc
    for part in parts[:-1]:
        if part.startswith("$"):
            raise Unknown("positional")
        if isinstance(node, dict):
            if part not in node:
                if not create:
                    return None
                node[part] = {}
            node = node[part]
        elif isinstance(node, list) and part.isdigit():
            i = int(part)
            while create and len(node) <= i:
                node.append(None)
            if i >= len(node):
                return None
            if node[i] is None and create:
                node[i] = {}
            node = node[i]
        else:
            raise Unknown("path through a non-document")
    return node


def _set(doc: Any, parts: list[str], value: Any) -> None:
    parent = _parent(doc, parts, create=True)
    leaf = parts[-1]
    if leaf.startswith("$"):
        raise Unknown("positional")
    if isinstance(parent, dict):
        parent[leaf] = value
    elif isinstance(parent, list) and leaf.isdigit():
        i = int(leaf)
        while len(parent) <= i:
            parent.append(None)
        parent[i] = value
    else:
        raise Unknown("leaf of a non-document")


def _unset(doc: Any, parts: list[str]) -> None:
    try:
        parent = _parent(doc, parts, create=False)
    except Unknown:
        return
    leaf = parts[-1]
    if isinstance(parent, dict):
        parent.pop(leaf, None)
    elif isinstance(parent, list) and leaf.isdigit() and int(leaf) < len(parent):
        parent[int(leaf)] = None


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, bson.Decimal128) or isinstance(b, bson.Decimal128):
        raise Unknown("decimal")
    if isinstance(a, float) or isinstance(b, float):
        return float(a) + float(b)
    return a + b


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, bson.Decimal128) or isinstance(b, bson.Decimal128):
        raise Unknown("decimal")
    if isinstance(a, float) or isinstance(b, float):
        return float(a) * float(b)
    return a * b


def apply_update(pre: Mapping[str, Any], update: Any, *, inserting: bool) -> dict[str, Any] | None:
    doc = copy.deepcopy(dict(pre))
    try:
        if isinstance(update, list):
            for stage in update:
                _apply_stage(doc, stage)
            return doc
        for op in sorted(update):
            body = update[op]
            for path in sorted(body):
                value = body[path]
                parts = split_path(path)
                if any(p.startswith("$") for p in parts):
                    raise Unknown("positional")
                current = _get(doc, parts)
                if op == "$set":
                    _set(doc, parts, copy.deepcopy(value))
                elif op == "$setOnInsert":
                    if inserting:
                        _set(doc, parts, copy.deepcopy(value))
                elif op == "$unset":
                    _unset(doc, parts)
                elif op in ("$inc", "$mul"):
                    if current is MISSING:
                        _set(doc, parts, value if op == "$inc" else (0.0 if isinstance(value, float) else 0))
                    elif not is_number(current):
                        raise Unknown("error on mongod")
                    else:
                        _set(doc, parts, _add(current, value) if op == "$inc" else _mul(current, value))
                elif op in ("$min", "$max"):
                    if current is MISSING:
                        _set(doc, parts, copy.deepcopy(value))
                    else:
                        c = compare(value, current)
                        if (op == "$min" and c < 0) or (op == "$max" and c > 0):
                            _set(doc, parts, copy.deepcopy(value))
                elif op in ("$push", "$addToSet"):
                    if is_operator_doc(value):
                        if set(value) - {"$each"}:
                            raise Unknown("$push modifiers")
                        items = list(value["$each"])
                    else:
                        items = [value]
                    if current is MISSING:
                        current = []
                    elif not isinstance(current, list):
                        raise Unknown("error on mongod")
                    new = list(current)
                    for item in items:
                        if op == "$addToSet" and any(equal(item, x) for x in new):
                            continue
                        new.append(copy.deepcopy(item))
                    _set(doc, parts, new)
                elif op == "$pop":
                    if isinstance(current, list) and current:
                        _set(doc, parts, current[1:] if value == -1 else current[:-1])
                elif op == "$rename":
                    if current is not MISSING:
                        _unset(doc, parts)
                        _set(doc, split_path(value), current)
                else:
                    raise Unknown(op)
    except Unknown:
        return None
    return doc


# ----------------------------------------------------------------------------------------------------
# pipeline-style updates: the stages and expressions the app uses


def _apply_stage(doc: dict[str, Any], stage: Mapping[str, Any]) -> None:
    ((name, spec),) = stage.items()
    if name in ("$set", "$addFields"):
        root = copy.deepcopy(doc)
        for field, expr in spec.items():
            _set(doc, split_path(field), evaluate(expr, root))
    elif name == "$unset":
        for field in spec if isinstance(spec, list) else [spec]:
            _unset(doc, split_path(field))
    else:
        raise Unknown(name)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _ms(value: datetime.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return (value - _EPOCH) // datetime.timedelta(milliseconds=1)


def evaluate(expr: Any, root: Mapping[str, Any]) -> Any:
    if isinstance(expr, str):
        if expr.startswith("$$"):
            raise Unknown("variable")
        if expr.startswith("$"):
            value = _get(root, split_path(expr[1:]))
            return None if value is MISSING else value
        return expr
    if isinstance(expr, list):
        return [evaluate(e, root) for e in expr]
    if not isinstance(expr, Mapping):
        return expr
    if not is_operator_doc(expr):
        return {k: evaluate(v, root) for k, v in expr.items()}
    ((op, arg),) = expr.items()
    if op == "$literal":
        return arg
    args = arg if isinstance(arg, list) else [arg]
    if op == "$cond":
        if isinstance(arg, Mapping):
            args = [arg["if"], arg["then"], arg["else"]]
        test = evaluate(args[0], root)
        truthy = not (test is None or test is False or (is_number(test) and test == 0))
        return evaluate(args[1] if truthy else args[2], root)
    values = [evaluate(a, root) for a in args]
    if op == "$add":
        if any(v is None for v in values):
            return None
        dates = [v for v in values if isinstance(v, datetime.datetime)]
        if dates:
            raise Unknown("date arithmetic")
        total: Any = 0
        for v in values:
            total = _add(total, v)
        return total
    if op == "$subtract":
        a, b = values
        if a is None or b is None:
            return None
        if isinstance(a, datetime.datetime) and isinstance(b, datetime.datetime):
            return bson.Int64(_ms(a) - _ms(b))  # date - date: a long of milliseconds
        if isinstance(a, datetime.datetime) or isinstance(b, datetime.datetime):
            raise Unknown("date minus number")
        return _add(a, -b)
    if op == "$multiply":
        total = 1
        for v in values:
            if v is None:
                return None
            total = _mul(total, v)
        return total
    if op in ("$toLong", "$toInt"):
        (v,) = values
        if v is None:
            return None
        if not is_number(v) or isinstance(v, bson.Decimal128):
            raise Unknown(op + " of " + type(v).__name__)
        return bson.Int64(int(v)) if op == "$toLong" else int(v)
    if op == "$divide":
        a, b = values
        if a is None or b is None:
            return None
        return float(a) / float(b)  # always a double
    if op == "$floor":
        (v,) = values
        if v is None:
            return None
        return float(math.floor(v)) if isinstance(v, float) else v
    if op in ("$max", "$min"):
        items = values[0] if len(values) == 1 and isinstance(values[0], list) else values
        items = [v for v in items if v is not None]
        if not items:
            return None
        best = items[0]
        for v in items[1:]:
            c = compare(v, best)
            if (op == "$max" and c > 0) or (op == "$min" and c < 0):
                best = v
        return best
    if op == "$eq":
        a, b = values
        return compare(a, b) == 0 and canonical(a) == canonical(b)
    if op == "$ifNull":
        for v in values[:-1]:
            if v is not None:
                return v
        return values[-1]
    raise Unknown(op)


# ----------------------------------------------------------------------------------------------------
# comparison of stored documents


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, float):
        return "double"
    if isinstance(v, bson.Int64):
        return "long"
    if isinstance(v, int):
        return "int" if -(2**31) <= v < 2**31 else "long"
    return type(v).__name__


def same(a: Any, b: Any, path: str = "") -> str | None:
    """None when equal as mongod stores them; else a description of the first difference."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for k in set(a) | set(b):
            if k not in a or k not in b:
                return f"{path}.{k}: {'missing' if k not in a else repr(a[k])[:80]} vs {'missing' if k not in b else repr(b[k])[:80]}"
            d = same(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: array of {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            d = same(x, y, f"{path}.{i}")
            if d:
                return d
        return None
    if canonical(a) != canonical(b) or compare(a, b) != 0:
        return f"{path}: {a!r} vs {b!r}"
    if is_number(a) and (isinstance(a, float) != isinstance(b, float)):
        return f"{path}: {_kind(a)} {a!r} vs {_kind(b)} {b!r}"
    return None


# ----------------------------------------------------------------------------------------------------
# aggregation: the stages the app uses, evaluated with mongod's rules


def _evaluate_more(expr: Any, root: Mapping[str, Any]) -> Any:
    """`evaluate` plus the string/type operators the app's pipelines use."""
    if isinstance(expr, Mapping) and is_operator_doc(expr) and len(expr) == 1:
        ((op, arg),) = expr.items()
        if op == "$toString":
            v = _evaluate_more(arg, root)
            if v is None:
                return None
            if isinstance(v, bson.ObjectId):
                return str(v)
            if isinstance(v, str):
                return v
            raise Unknown("$toString of " + type(v).__name__)
        if op == "$concat":
            parts = [_evaluate_more(a, root) for a in arg]
            if any(p is None for p in parts):
                return None
            if not all(isinstance(p, str) for p in parts):
                raise Unknown("$concat of non-strings: error on mongod")
            return "".join(parts)
        if op in (
            "$add",
            "$subtract",
            "$multiply",
            "$divide",
            "$floor",
            "$toLong",
            "$toInt",
            "$max",
            "$min",
            "$cond",
            "$eq",
            "$ifNull",
        ):
            args = arg if isinstance(arg, list) else [arg]
            if op == "$cond" and isinstance(arg, Mapping):
                args = [arg["if"], arg["then"], arg["else"]]
            if op == "$cond":
                test = _evaluate_more(args[0], root)
                truthy = not (test is None or test is False or (is_number(test) and test == 0))
                return _evaluate_more(args[1] if truthy else args[2], root)
            values = [_evaluate_more(a, root) for a in args]
            literal = [{"$literal": v} for v in values]
            return evaluate({op: literal if isinstance(arg, list) else literal[0]}, {})
    if isinstance(expr, Mapping) and not is_operator_doc(expr):
        return {k: _evaluate_more(v, root) for k, v in expr.items()}
    return evaluate(expr, root)


def run_pipeline(
    docs: list[Mapping[str, Any]], pipeline: list[Mapping[str, Any]]
) -> list[dict[str, Any]] | None:
    rows: list[Any] = [dict(d) for d in docs]
    try:
        for stage in pipeline:
            ((name, spec),) = stage.items()
            if name == "$match":
                kept = []
                for r in rows:
                    m = match(r, spec)
                    if m is None:
                        raise Unknown("match unsure")
                    if m:
                        kept.append(r)
                rows = kept
            elif name == "$sort":
                rows = sort_documents(rows, [(k, int(v)) for k, v in spec.items()])
            elif name == "$limit":
                rows = rows[: int(spec)]
            elif name == "$skip":
                rows = rows[int(spec) :]
            elif name in ("$project", "$addFields", "$set"):
                new_rows = []
                for r in rows:
                    if name == "$project":
                        out: dict[str, Any] = {}
                        if spec.get("_id", 1) not in (0, False):
                            out["_id"] = r.get("_id")
                        for field, e in spec.items():
                            if field == "_id":
                                continue
                            if e in (1, True):
                                if field in r:
                                    out[field] = r[field]
                            elif e in (0, False):
                                raise Unknown("exclusion $project")
                            else:
                                out[field] = _evaluate_more(e, r)
                    else:
                        out = dict(r)
                        for field, e in spec.items():
                            _set(out, split_path(field), _evaluate_more(e, r))
                    new_rows.append(out)
                rows = new_rows
            elif name == "$group":
                groups: dict[Any, dict[str, Any]] = {}
                order: list[Any] = []
                for r in rows:
                    key_value = _evaluate_more(spec["_id"], r)
                    key = _hashable(key_value)
                    g = groups.get(key)
                    if g is None:
                        g = groups[key] = {"_id": key_value}
                        order.append(key)
                        for field in spec:
                            if field != "_id":
                                g[field] = _INIT
                    for field, acc in spec.items():
                        if field == "_id":
                            continue
                        ((acc_op, acc_arg),) = acc.items()
                        v = _evaluate_more(acc_arg, r)
                        g[field] = _accumulate(acc_op, g[field], v)
                rows = []
                for key in order:
                    g = groups[key]
                    for field in list(g):
                        if g[field] is _INIT:
                            g[field] = 0 if spec[field] and next(iter(spec[field])) == "$sum" else None
                    rows.append(g)
            else:
                raise Unknown(name)
    except (Unknown, KeyError, TypeError, ValueError):
        return None
    return rows


class _Init:
    pass


_INIT = _Init()


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, list):
        return ("__list__", tuple(_hashable(v) for v in value))
    if isinstance(value, datetime.datetime):
        v = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        return ("__date__", v.replace(microsecond=v.microsecond // 1000 * 1000))
    if is_number(value):
        return ("__num__", float(value))
    return (canonical(value), value)


def _accumulate(op: str, current: Any, value: Any) -> Any:
    if op == "$sum":
        base = 0 if current is _INIT else current
        if is_number(value):
            return _add(base, value)
        return base  # non-numbers are ignored
    if op == "$first":
        return value if current is _INIT else current
    if op == "$last":
        return value
    if op in ("$max", "$min"):
        if value is None:
            return None if current is _INIT else current
        if current is _INIT or current is None:
            return value
        c = compare(value, current)
        return value if (op == "$max" and c > 0) or (op == "$min" and c < 0) else current
    if op == "$push":
        return ([] if current is _INIT else current) + [value]
    if op == "$addToSet":
        base = [] if current is _INIT else current
        return base if any(equal(value, x) for x in base) else [*base, value]
    raise Unknown(op)


def compare_outputs(
    engine: list[Mapping[str, Any]], mongod: list[Mapping[str, Any]], ordered: bool
) -> str | None:
    if len(engine) != len(mongod):
        return f"{len(engine)} rows vs {len(mongod)} on mongod"
    if not ordered:
        import functools

        key = functools.cmp_to_key(lambda a, b: compare(a.get("_id"), b.get("_id")))
        engine, mongod = sorted(engine, key=key), sorted(mongod, key=key)
    for i, (a, b) in enumerate(zip(mongod, engine, strict=False)):
        d = same(a, b, f"row {i}")
        if d:
            return d
    return None
