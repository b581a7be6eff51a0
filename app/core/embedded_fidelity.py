"""The embedded engine answers like mongod 7.0 where mongomock-ng answers otherwise.

Each fix patches one mongomock-ng function (hence the pinned version) and is tested in
tests/test_embedded.py, citing the server rule:

1. `{f: {}}` is an equality with the empty document: it does not match a missing `f`
   (mongomock-ng matches it; mongod's EqualityMatchExpression compares whole values).
2. An update that creates a field through `null`, a scalar or an array (`$set: {"a.b": 1}` with
   `a: null`) is refused with PathNotViable (28), not ignored; `$inc`/`$mul` of a non-number is
   TypeMismatch (14); `$push`/`$addToSet`/`$pull`/`$pullAll` of a non-array BadValue (2), `$pop` of one
   TypeMismatch (14); a `$set` that changes `_id` is ImmutableField (66). Checked on the document before
   anything is written, so a refused update changes nothing (mongod's updates are atomic per document).
3. A unique sparse index skips only documents missing every indexed field: two explicit `null`s clash
   (mongomock-ng skipped them). A unique partial index ignores a new document outside its filter.
4. `$floor`, `$ceil`, `$trunc` and `$round` of a double give a double (Python's give an int), so a
   `$floor` of `$divide` (always a double on mongod) stays a double as it would be stored on mongod.
5. `$group` over no documents gives no row (mongomock-ng gave one `_id: null` row of zero totals).

`app.core.embedded` also answers `list_indexes` as PyMongo decodes it (`SON` documents).
"""

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import bson
from mongomock_ng import aggregate as _aggregate
from mongomock_ng import filtering as _filtering
from mongomock_ng import helpers as _helpers
from mongomock_ng.collection import Collection as _SyncCollection
from pymongo.errors import DuplicateKeyError, WriteError
from sentinels import NOTHING  # type: ignore[import-untyped]

from app.core import embedded_rules as rules

# Operators that create the path they update (mongod: PathNotViable when a component is not a document).
_CREATING = frozenset({"$set", "$setOnInsert", "$inc", "$mul", "$min", "$max", "$push", "$addToSet", "$currentDate", "$bit"})  # fmt: skip
_ARRAY_TARGET_CODES = {"$push": 2, "$addToSet": 2, "$pull": 2, "$pullAll": 2, "$pop": 14}


def install() -> None:
    """Patch mongomock-ng once per process (every engine of the process answers like mongod)."""
    if getattr(_filtering._Filterer.apply, "mongod_rules", False):
        return
    _install_empty_document_equality()
    _install_update_path_rules()
    _install_unique_index_rules()
    _install_arithmetic_types()
    _install_group_of_nothing()


# 1. ---------------------------------------------------------------------------------------------------


def _install_empty_document_equality() -> None:
    stock: Callable[..., bool] = _filtering._Filterer.apply

    def apply(self: Any, search_filter: Any, document: Any, user_vars: Any = None) -> bool:
        if isinstance(search_filter, dict) and any(type(v) is dict and not v for v in search_filter.values()):
            search_filter = {
                k: {"$eq": {}} if type(v) is dict and not v else v for k, v in search_filter.items()
            }
        return stock(self, search_filter, document, user_vars=user_vars)

    apply.mongod_rules = True  # type: ignore[attr-defined]
    _filtering._Filterer.apply = apply  # type: ignore[method-assign]


# 2. ---------------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | bson.Int64 | bson.Decimal128):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object" if isinstance(value, Mapping) else type(value).__name__


def check_update_target(document: Mapping[str, Any], update: Mapping[str, Any], *, inserting: bool) -> None:
    """Raise mongod's WriteError if `update` (operators) cannot apply to `document` as it is stored."""
    for op, body in update.items():
        if not isinstance(body, Mapping) or (op == "$setOnInsert" and not inserting):
            continue
        for path, value in body.items():
            target = value if op == "$rename" else path
            if op == "$rename":
                if _resolve(document, path.split("."))[1] is NOTHING:
                    continue  # nothing to move: a no-op
                _check_path(document, "$set", target, None)
            else:
                _check_path(document, op, target, value)
        if (
            op == "$set"
            and not inserting
            and any(str(p).startswith("$") and "." not in str(p) and p != "$" for p in body)
        ):
            _refuse(
                52,
                "The dollar ($) prefixed field is not valid for storage (a top-level '$' field of a stored document)",
            )
        changes_id = op == "$set" and "_id" in body and "_id" in document and not inserting
        if changes_id and (body["_id"] != document["_id"] or type(body["_id"]) is not type(document["_id"])):
            _refuse(66, "Performing an update on the path '_id' would modify the immutable field '_id'")


def _resolve(document: Any, parts: list[str]) -> tuple[Any, Any]:
    """(the node holding the last component, the value there or NOTHING); NOTHING parent: path missing."""
    node = document
    for part in parts[:-1]:
        if isinstance(node, Mapping):
            node = node.get(part, NOTHING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return NOTHING, NOTHING
        if node is NOTHING:
            return NOTHING, NOTHING
    leaf = parts[-1]
    if isinstance(node, Mapping):
        return node, node.get(leaf, NOTHING)
    if isinstance(node, list) and leaf.isdigit():
        return node, node[int(leaf)] if int(leaf) < len(node) else NOTHING
    return node, NOTHING


def _check_path(document: Mapping[str, Any], op: str, path: str, value: Any) -> None:
    parts = path.split(".")
    if any(part.startswith("$") for part in parts):
        return  # positional and array-filter paths: resolved by the engine per element
    node: Any = document
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, Mapping):
            if part not in node:
                return  # created on the way (or nothing to change)
            child = node[part]
        elif isinstance(node, list) and part.isdigit():
            if int(part) >= len(node):
                return
            child = node[int(part)]
        else:
            if op in _CREATING:
                prefix = ".".join(parts[:i])
                _refuse(28, f"Cannot create field '{part}' in element {{{prefix}: {_type_name(node)}}}")
            return
        if last:
            _check_leaf(op, path, child)
        node = child


def _check_leaf(op: str, path: str, current: Any) -> None:
    if op in ("$inc", "$mul") and not (
        isinstance(current, int | float | bson.Int64 | bson.Decimal128) and not isinstance(current, bool)
    ):
        _refuse(14, f"Cannot apply {op} to a value of non-numeric type. The field '{path}' has non-numeric type {_type_name(current)}")  # fmt: skip
    if op in _ARRAY_TARGET_CODES and not isinstance(current, list | tuple):
        _refuse(_ARRAY_TARGET_CODES[op], f"Cannot apply {op} to the field '{path}' of non-array type {_type_name(current)}")  # fmt: skip


def _refuse(code: int, message: str) -> None:
    raise WriteError(message, code, {"index": 0, "code": code, "codeName": rules.CODE_NAMES.get(code), "errmsg": message})  # fmt: skip


def _install_update_path_rules() -> None:
    stock: Callable[..., Any] = _SyncCollection._apply_update_document

    def _apply_update_document(self: Any, existing: Any, spec: Any, document: Any, was_insert: bool) -> Any:
        check_update_target(existing, document, inserting=was_insert)
        return stock(self, existing, spec, document, was_insert)

    _SyncCollection._apply_update_document = _apply_update_document  # type: ignore[method-assign]


# 3. ---------------------------------------------------------------------------------------------------


def index_entries(document: Any, keys: list[tuple[str, Any]], sparse: bool) -> list[tuple[Any, ...]] | None:
    """The keys `document` has in an index (mongod: a missing field is null; a sparse index skips only
    documents missing every indexed field; an array gives one key per element), None when not indexed."""
    values: list[Any] = []
    present = False
    has_array = False
    for key, _direction in keys:
        value = _helpers.get_value_by_dot(document, key)
        if value is NOTHING:
            values.append(None)
            continue
        present = True
        values.append(value)
        has_array = has_array or isinstance(value, list | tuple)
    if sparse and not present:
        return None
    if not has_array:
        return [tuple(values)]
    entries: list[tuple[Any, ...]] = [()]
    for value in values:
        items = list(value) if isinstance(value, list | tuple) else [value]
        entries = [(*entry, item) for entry in entries for item in items or [None]]
    return entries


def _install_unique_index_rules() -> None:
    def _ensure_uniques(self: Any, new_data: Any) -> None:
        for index_name, index in self._store.indexes.items():
            if not index.get("unique"):
                continue
            keys = index.get("key")
            sparse = bool(index.get("sparse"))
            partial = index.get("partialFilterExpression")
            if partial is not None and not _filtering.filter_applies(partial, new_data):
                continue
            mine = index_entries(new_data, keys, sparse)
            if mine is None:
                continue
            for other in self._store.documents:
                if other["_id"] == new_data.get("_id"):
                    continue
                if partial is not None and not _filtering.filter_applies(partial, other):
                    continue
                theirs = index_entries(other, keys, sparse)
                if theirs is not None and _SyncCollection._entries_overlap(mine, theirs):
                    key_value = {k: _helpers.get_value_by_dot(new_data, k) for k, _ in keys}
                    raise DuplicateKeyError(
                        f"E11000 duplicate key error collection: {self.full_name} index: {index_name} dup key: {key_value}",
                        11000,
                        {"keyPattern": dict(keys), "keyValue": key_value},
                    )

    _SyncCollection._ensure_uniques = _ensure_uniques  # type: ignore[method-assign]


# 4. ---------------------------------------------------------------------------------------------------

_ROUNDING = frozenset({"$floor", "$ceil", "$trunc"})


def _install_arithmetic_types() -> None:
    parser: Any = _aggregate._Parser
    unary: Callable[..., Any] = parser._eval_unary_arithmetic_operator
    binary: Callable[..., Any] = parser._eval_binary_arithmetic_operator

    def _eval_unary_arithmetic_operator(self: Any, operator: str, values: Any) -> Any:
        result = unary(self, operator, values)
        if operator in _ROUNDING and type(result) is int and type(self.parse(values)) is float:
            return float(result)
        return result

    def _eval_binary_arithmetic_operator(self: Any, operator: str, values: Any) -> Any:
        result = binary(self, operator, values)
        if operator in ("$round", "$divide") and type(result) is int:
            first = self.parse(values[0]) if isinstance(values, list | tuple) and values else None
            if operator == "$divide" or type(first) is float:
                return float(result)
        return result

    parser._eval_unary_arithmetic_operator = _eval_unary_arithmetic_operator
    parser._eval_binary_arithmetic_operator = _eval_binary_arithmetic_operator


# 5. ---------------------------------------------------------------------------------------------------


def _install_group_of_nothing() -> None:
    handlers: MutableMapping[str, Any] = _aggregate._PIPELINE_HANDLERS
    stock: Callable[..., list[Any]] = handlers["$group"]

    def group(in_collection: Iterable[Any], database: Any, options: Any, user_vars: Any) -> list[Any]:
        rows = list(in_collection)
        return stock(rows, database, options, user_vars) if rows else []

    handlers["$group"] = group
