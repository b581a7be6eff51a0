"""In-memory indexes for the embedded engine: the collection's index set, kept in step with every write.

mongomock-ng answers every query by scanning and copying the whole collection. This module keeps, for
each index the collection has (the declared set, built by the index migration's `create_indexes`), a
sorted list of `(key…, seq, _id)` entries and plans each query the way mongod would:

* equality / `$in` on a prefix of the index fields, then one range (`$gt/$gte/$lt/$lte`, inside the
  bound's type bracket as mongod and mongomock both compare), bound the scan (`bisect`);
* a sort on the fields that follow (all in the index's direction or all reversed) is served from the
  index order, so `limit(n)` reads n documents; equal sort keys come out in insertion order, exactly as
  mongomock's stable sort orders them;
* a count whose whole filter is such bounds is the width of the bounds (no document read);
* anything else (`$or`, `$ne`, `$regex`, nested documents, arrays in sort fields…) leaves the index to
  narrow what it can and mongomock's own filter and sort decide, or scans where mongod would too.

The index only ever proposes candidates: every document is still checked by mongomock's
`filter_applies`, and a document whose key the index cannot order faithfully (a sub-document, an
array of arrays, NaN, binary…) is kept in an `others` bucket that every plan includes and that
disables sort serving and covered counts. An empty array has one entry of its own below every value
(as mongod's `undefined`), which only a `null` point looks for. Answers are mongomock's answers
(tests/test_embedded_index.py compares them on random filters, sorts and writes).

Writes reach the index through `CollectionStore.__setitem__/__delitem__` (every insert, update,
replace, delete and TTL expiry goes through them; updates mutate the stored document in place, so the
index remembers each document's keys). A dropped collection, dropped indexes or an aborted transaction
replaces the store's containers; the index notices and rebuilds. Engine calls run on one thread
(app/core/embedded.py), so no lock is taken here.
"""

import bisect
import heapq
import itertools
import math
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import bson
import mongomock_ng
from mongomock_ng import filtering as _filtering
from mongomock_ng import helpers as _helpers
from mongomock_ng.collection import Collection as _SyncCollection
from mongomock_ng.filtering import filter_applies
from mongomock_ng.store import CollectionStore
from pymongo.errors import DuplicateKeyError

NOTHING: Any = vars(_filtering)["NOTHING"]  # the `sentinels` package's, untyped
Key = tuple[Any, ...]


class _Extreme:
    """Compares below (or above) every key, field key or sequence number alike."""

    __slots__ = ("top",)

    def __init__(self, top: bool) -> None:
        self.top = top

    def __lt__(self, other: object) -> bool:
        return not self.top and other is not self

    def __le__(self, other: object) -> bool:
        return not self.top or other is self

    def __gt__(self, other: object) -> bool:
        return self.top and other is not self

    def __ge__(self, other: object) -> bool:
        return self.top or other is self

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return int(self.top)


_BOTTOM: Any = _Extreme(top=False)
_TOP: Any = _Extreme(top=True)
_NULL = 5  # mongomock's comparison ranks (filtering._get_compare_type)
_MAX_COMBOS = 256  # equality combinations ($in × $in) scanned separately
_MAX_MULTIKEY = 1000  # entries per document before it goes to the others bucket
# What reading and sorting one candidate costs against walking one index entry in a served sort's order.
_SORT_PENALTY = 8
_EPOCH = datetime(1970, 1, 1)


class _Unindexable(Exception):
    """A value whose index key would not order as mongomock compares it."""


def _rank_value(value: Any) -> tuple[int, Any]:
    kind = type(value)
    if value is None or value is NOTHING:
        return _NULL, 0
    if kind is str:
        return 15, value
    if kind is bson.ObjectId:
        return 35, int.from_bytes(value.binary, "big")
    if kind is datetime:
        if value.tzinfo is not None:
            value = (value - value.utcoffset()).replace(tzinfo=None)
        return 45, value
    if kind is bool:
        return 40, int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value:  # NaN
            raise _Unindexable
        return 10, value
    raise _Unindexable


def field_key(value: Any, descending: bool) -> Key:
    """The comparable key of one scalar value; descending keys sort in reverse."""
    rank, plain = _rank_value(value)
    if not descending:
        return rank, plain
    if rank == 15:
        return -rank, _Reversed(plain)
    if rank == 45:
        plain = (plain - _EPOCH) // _ONE_MICROSECOND
    return -rank, -plain


_ONE_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1) - _EPOCH
# The field key of an empty array, ascending and descending: below every other key (no rank is < 0)
# and never inside a range's type bracket, so only a `null` point has to look for it too.
_EMPTY_KEYS = ((-1, 0), (1, 0))


class _Reversed:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value

    def __lt__(self, other: "_Reversed") -> bool:
        return bool(other.value < self.value)

    def __gt__(self, other: "_Reversed") -> bool:
        return bool(other.value > self.value)

    def __hash__(self) -> int:
        return hash(self.value)


def _bracket(key: Key) -> tuple[Key, Key]:
    """The lowest and highest field keys of `key`'s type (mongomock and mongod compare within a type)."""
    return (key[0],), (key[0] + 0.5,)


_ARRAY = object()


def _resolve(doc: Any, path: str) -> Any:
    """The value at a dotted path; `_ARRAY` when the path crosses an array (the filter decides those)."""
    value = doc
    for part in path.split("."):
        if type(value) is not dict:
            if isinstance(value, list | tuple):
                return _ARRAY
            if not isinstance(value, dict):
                return NOTHING
        value = value.get(part, NOTHING)
        if value is NOTHING:
            return NOTHING
    return value


class Index:
    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.fields: list[tuple[str, bool]] = [(field, direction == -1) for field, direction in spec["key"]]
        self.unique = bool(spec.get("unique"))
        self.sparse = bool(spec.get("sparse"))
        self.partial: dict[str, Any] | None = spec.get("partialFilterExpression")
        self.usable = all(direction in (1, -1) for _, direction in spec["key"]) and (
            self.partial is None or all(not field.startswith("$") for field in self.partial)
        )
        self.entries: list[Key] = []
        self.keys_of: dict[Any, list[Key]] = {}
        self.others: set[Any] = set()
        self.multikey = 0  # documents indexed by more than one entry (an array value) or by an empty one
        self.empties = 0  # documents with an empty array in an indexed field

    def keys(self, doc: dict[str, Any], seq: int, doc_id: Any) -> list[Key] | None:
        """This document's entries; [] when it is not in the index, None when it goes to `others`."""
        if self.partial is not None and not filter_applies(self.partial, doc):
            return []
        per_field: list[list[Key]] = []
        present = False
        for path, descending in self.fields:
            value = _resolve(doc, path)
            if value is _ARRAY:
                return None
            present |= value is not NOTHING
            try:
                if type(value) is list:
                    if not value:  # one entry below every value (mongod: `undefined`); no scalar matches it
                        per_field.append([_EMPTY_KEYS[descending]])
                        continue
                    per_field.append(sorted({field_key(item, descending) for item in value}))
                else:
                    per_field.append([field_key(value, descending)])
            except (_Unindexable, TypeError):
                return None
        if self.sparse and not present:
            return []
        if all(len(keys) == 1 for keys in per_field):
            return [(*(keys[0] for keys in per_field), seq, doc_id)]
        combos = math.prod(len(keys) for keys in per_field)
        if combos > _MAX_MULTIKEY:
            return None
        return [(*combo, seq, doc_id) for combo in itertools.product(*per_field)]

    def add(self, doc: dict[str, Any], seq: int, doc_id: Any) -> None:
        keys = self.keys(doc, seq, doc_id)
        if keys is None:
            self.others.add(doc_id)
            return
        if not keys:
            return
        self.keys_of[doc_id] = keys
        self._count(keys, 1)
        entries = self.entries
        for key in keys:
            if entries and entries[-1] < key:
                entries.append(key)
            else:
                bisect.insort(entries, key)

    def remove(self, doc_id: Any) -> None:
        if doc_id in self.others:
            self.others.discard(doc_id)
            return
        keys = self.keys_of.pop(doc_id, None)
        if keys is None:
            return
        self._count(keys, -1)
        entries = self.entries
        for key in keys:
            position = bisect.bisect_left(entries, key)
            if position < len(entries) and entries[position] == key:
                del entries[position]

    def build(self, documents: dict[Any, dict[str, Any]], seqs: dict[Any, int]) -> None:
        entries: list[Key] = []
        for doc_id, doc in documents.items():
            keys = self.keys(doc, seqs[doc_id], doc_id)
            if keys is None:
                self.others.add(doc_id)
            elif keys:
                self.keys_of[doc_id] = keys
                self._count(keys, 1)
                entries.extend(keys)
        entries.sort()
        self.entries = entries

    def _count(self, keys: list[Key], step: int) -> None:
        """A document's share of `multikey` and `empties`, added (1) or taken back (-1)."""
        empty = has_empty(keys, len(self.fields))
        self.empties += step * empty
        self.multikey += step * (empty or len(keys) > 1)


def has_empty(keys: list[Key], width: int) -> bool:
    return any(part in _EMPTY_KEYS for part in keys[0][:width])


class Plan:
    """Scan bounds on one index: `ranges` of entry positions, their order, and what they prove."""

    def __init__(self, index: Index, ranges: list[tuple[int, int]], sort_width: int, backward: bool) -> None:
        self.index, self.ranges, self.backward = index, ranges, backward
        self.sort_width = (
            sort_width  # the sort's fields after the bounds' prefix: entry fields [start, start + width)
        )
        self.sort_start = 0
        self.served = False  # the sort is served: in each range, then merged across ranges
        self.merge_key: list[int] = []  # entry fields of the whole sort, in its order (the merge's key)
        self.covered = False  # every filter condition is exactly these bounds (a count needs no read)

    def count(self) -> int:
        return sum(stop - start for start, stop in self.ranges)

    def cost(self) -> int:
        """Documents a read of the plan's candidates visits."""
        return self.count() + len(self.index.others)

    def ids(self) -> Iterator[Any]:
        entries, width = self.index.entries, len(self.index.fields)
        for start, stop in self.ranges:
            for position in range(start, stop):
                yield entries[position][width + 1]

    def ordered_ids(self) -> Iterator[Any]:
        """Ids in the served sort's order; equal sort keys in insertion order (mongomock's stable sort).

        Each range (one combination of the prefix's points) is in sort order already; several are
        merged on the sort's fields, then insertion order (mongod's SORT_MERGE of `$in` bounds)."""
        width = len(self.index.fields)
        streams = [self._ordered(start, stop) for start, stop in self.ranges]
        if len(streams) == 1:
            yield from (entry[width + 1] for entry in streams[0])
            return
        fields = self.merge_key
        if self.backward:  # sort keys descending, insertion order ascending
            merged = heapq.merge(
                *streams, key=lambda e: (tuple(e[i] for i in fields), -e[width]), reverse=True
            )
        else:
            merged = heapq.merge(*streams, key=lambda e: (tuple(e[i] for i in fields), e[width]))
        yield from (entry[width + 1] for entry in merged)

    def _ordered(self, start: int, stop: int) -> Iterator[Key]:
        """One range's entries in the sort's order, equal sort keys in insertion order."""
        entries, width = self.index.entries, len(self.index.fields)
        first, last = self.sort_start, self.sort_start + self.sort_width
        positions = range(stop - 1, start - 1, -1) if self.backward else range(start, stop)
        group: list[Key] = []
        group_key: Key | None = None
        for position in positions:
            entry = entries[position]
            key = entry[first:last]
            if key != group_key:
                if len(group) > 1:
                    group.sort(key=lambda item: item[width])
                yield from group
                group, group_key = [], key
            group.append(entry)
        if len(group) > 1:
            group.sort(key=lambda item: item[width])
        yield from group


class IndexSet:
    """The indexes of one mongomock collection store."""

    def __init__(self, store: CollectionStore) -> None:
        self.store = store
        self.documents: Any = None
        self.specs: Any = None
        self.version = -1
        self.indexes: list[Index] = []
        self.seq: dict[Any, int] = {}
        self.counter = itertools.count()

    def current(self) -> "IndexSet":
        store = self.store
        if (
            store._documents is not self.documents
            or store.indexes is not self.specs
            or vars(store).get("_index_version", 0) != self.version
        ):
            self.rebuild()
        return self

    def rebuild(self) -> None:
        store = self.store
        self.documents, self.specs = store._documents, store.indexes
        self.version = vars(store).get("_index_version", 0)
        self.counter = itertools.count()
        self.seq = {doc_id: next(self.counter) for doc_id in self.documents}
        self.indexes = []
        for name, spec in store.indexes.items():
            index = Index(name, spec)
            if index.usable:
                index.build(self.documents, self.seq)
                self.indexes.append(index)

    def put(self, doc_id: Any, doc: dict[str, Any]) -> None:
        if self.store._documents is not self.documents:
            return  # rebuilt at the next read
        seq = self.seq.get(doc_id)
        if seq is None:
            seq = self.seq[doc_id] = next(self.counter)
        for index in self.indexes:
            index.remove(doc_id)
            index.add(doc, seq, doc_id)

    def delete(self, doc_id: Any) -> None:
        if self.store._documents is not self.documents:
            return
        self.seq.pop(doc_id, None)
        for index in self.indexes:
            index.remove(doc_id)

    # -- planning ---------------------------------------------------------------------------------

    def plan(self, filter: Any, sort: list[tuple[str, int]] | None = None) -> Plan | None:
        """The best index plan for a filter (and sort), or None where mongod would scan as well.

        Without a sort, the plan visiting fewest documents (a covered one where it ties). With one,
        a plan serving it, unless it only narrows the filter and another plan's candidates, sorted,
        cost far less than walking its bounds (a guest's 4 streams among every stream's dates)."""
        conditions = _conditions(filter)
        planned = [found for index in self.indexes if (found := _plan_on(index, conditions, filter, sort))]
        if not planned:
            return None
        if not sort:
            return min(planned, key=lambda item: (item[1].cost(), not item[1].covered, _negated(item[0])))[1]
        best = max(planned, key=lambda item: item[0])[1]
        if best.served and not best.covered:
            narrower = min((plan for _, plan in planned if not plan.served), key=Plan.cost, default=None)
            if narrower is not None and narrower.cost() * _SORT_PENALTY < best.cost():
                return narrower
        return best

    def candidates(self, plan: Plan) -> list[dict[str, Any]]:
        """The plan's documents plus the index's `others`, once each, in insertion order."""
        ids = set(plan.ids()) if plan.index.multikey else list(plan.ids())
        if plan.index.others:
            ids = set(ids) | plan.index.others
        documents, seq = self.documents, self.seq
        return [documents[doc_id] for doc_id in sorted(ids, key=seq.__getitem__)]


class _Condition:
    """What one top-level filter field says, in index terms."""

    def __init__(self) -> None:
        self.points: list[Any] | None = None  # raw values ($eq / $in / plain equality)
        self.ranges: list[tuple[str, Any]] = []  # (operator, raw bound)
        self.exact = True  # the bounds state the whole condition


def _conditions(filter: Any) -> dict[str, _Condition]:
    conditions: dict[str, _Condition] = {}
    if not isinstance(filter, dict):
        return conditions
    for field, search in filter.items():
        if field.startswith("$"):
            continue
        condition = conditions[field] = _Condition()
        if isinstance(search, dict) and search and all(str(op).startswith("$") for op in search):
            for op, value in search.items():
                if op == "$eq" and _scalar(value):
                    condition.points = [value] if condition.points is None else condition.points
                elif op == "$in" and isinstance(value, list) and all(_scalar(v) for v in value):
                    condition.points = list(value) if condition.points is None else condition.points
                elif op in _RANGE_OPS and _scalar(value) and value is not None:
                    condition.ranges.append((op, value))
                else:
                    condition.exact = False
            if condition.points is not None and (condition.ranges or len(search) > 1):
                condition.exact = False
        elif _scalar(search):
            condition.points = [search]
        else:
            condition.exact = False
    return conditions


_RANGE_OPS = {"$gt", "$gte", "$lt", "$lte"}


def _scalar(value: Any) -> bool:
    try:
        _rank_value(value)
    except _Unindexable:
        return False
    return True


def _plan_on(
    index: Index, conditions: dict[str, _Condition], filter: Any, sort: list[tuple[str, int]] | None
) -> tuple[tuple[int, ...], Plan] | None:
    fields = index.fields
    prefix: list[list[Key]] = []  # point keys per leading equality field
    used: list[str] = []
    position = 0
    while position < len(fields):
        path, descending = fields[position]
        condition = conditions.get(path)
        if condition is None or condition.points is None:
            break
        points = {field_key(value, descending) for value in condition.points}
        if index.empties and (None in condition.points or NOTHING in condition.points):
            points.add(_EMPTY_KEYS[descending])  # whatever the filter says of `null` and `[]`
        prefix.append(sorted(points))
        used.append(path)
        position += 1
    interval: tuple[Key, bool, Key, bool] | None = None
    if position < len(fields):
        path, descending = fields[position]
        condition = conditions.get(path)
        if condition is not None and condition.ranges:
            interval = _interval(condition.ranges, descending, single=bool(index.multikey))
            used.append(path)
    if index.partial is not None and not _implies(conditions, index.partial):
        return None
    if index.sparse and not _excludes_missing(index, conditions, prefix, interval):
        return None
    # The sort: fields fixed by one equality point drop out. The others are the prefix's `$in` fields
    # (constant in each range, merged across ranges) and the fields right after the prefix, in order.
    fixed = {path for path, points in zip(used, prefix, strict=False) if len(points) == 1}
    wanted = [(path, direction) for path, direction in (sort or []) if path not in fixed or index.multikey]
    sort_width, backward, served, merge_key = 0, False, False, []
    combos = math.prod(len(points) for points in prefix) if prefix else 1
    if wanted and not index.multikey and not index.others:
        at = {path: number for number, (path, _) in enumerate(fields)}
        numbers = [at.get(path, -1) for path, _ in wanted]
        after = [number for number in numbers if number >= position]
        if -1 not in numbers and after == list(range(position, position + len(after))):
            signs = {
                (-1 if fields[number][1] else 1) * direction
                for number, (_, direction) in zip(numbers, wanted, strict=True)
            }
            if len(signs) == 1:
                sort_width, backward, served, merge_key = len(after), signs == {-1}, True, numbers
    if not prefix and interval is None and not served:
        return None
    if combos > _MAX_COMBOS:
        return None
    ranges = _ranges(index.entries, prefix, interval)
    plan = Plan(index, ranges, sort_width, backward)
    plan.sort_start, plan.served, plan.merge_key = position, served, merge_key
    plan.covered = (
        not index.multikey
        and not index.others
        and set(used) == set(conditions)
        and all(conditions[path].exact for path in used)
        and all(not str(field).startswith("$") for field in filter)
        and (interval is None or len(conditions[fields[position][0]].ranges) <= 2)
    )
    score = (int(served or not sort), len(prefix), int(interval is not None), -len(fields))
    return score, plan


def _negated(score: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(-part for part in score)


def _interval(ranges: list[tuple[str, Any]], descending: bool, single: bool) -> tuple[Key, bool, Key, bool]:
    """Entry bounds (low, inclusive, high, inclusive) for range operators on one field."""
    low, low_in, high, high_in = _BOTTOM, True, _TOP, True
    for op, value in ranges[:1] if single else ranges:
        key = field_key(value, descending)
        below, above = _bracket(key)
        lower = op in ("$gt", "$gte")
        if descending:
            lower = not lower
        if lower:
            new_low, new_low_in, new_high, new_high_in = key, op in ("$gte", "$lte"), above, False
        else:
            new_low, new_low_in, new_high, new_high_in = below, True, key, op in ("$gte", "$lte")
        if new_low > low or (new_low == low and not new_low_in):
            low, low_in = new_low, new_low_in
        if new_high < high or (new_high == high and not new_high_in):
            high, high_in = new_high, new_high_in
    return low, low_in, high, high_in


def _ranges(
    entries: list[Key], prefix: list[list[Key]], interval: tuple[Key, bool, Key, bool] | None
) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for combo in itertools.product(*prefix):
        if interval is None:
            start = bisect.bisect_left(entries, combo)
            stop = bisect.bisect_left(entries, (*combo, _TOP))
        else:
            low, low_in, high, high_in = interval
            if low > high:
                continue
            start = bisect.bisect_left(entries, (*combo, low) if low_in else (*combo, low, _TOP))
            stop = bisect.bisect_left(entries, (*combo, high, _TOP) if high_in else (*combo, high))
        if start < stop:
            ranges.append((start, stop))
    return ranges


def _implies(conditions: dict[str, _Condition], partial: dict[str, Any]) -> bool:
    """The query can only match documents of the partial index: each partial field has equality
    points that all satisfy the index's filter."""
    for field, condition in partial.items():
        points = conditions[field].points if field in conditions else None
        if (
            points is None
            or None in points
            or not all(filter_applies({field: condition}, {field: value}) for value in points)
        ):
            return False
    return True


def _excludes_missing(
    index: Index, conditions: dict[str, _Condition], prefix: list[list[Key]], interval: Any
) -> bool:
    """A sparse index leaves out documents missing its fields: usable when the query cannot match them."""
    if prefix:
        return all(key[0] not in (_NULL, -_NULL) for key in prefix[0])
    return interval is not None


# -- hooks into mongomock-ng ------------------------------------------------------------------------


def index_set(collection: Any) -> IndexSet | None:
    """The collection's (current) index set, None when it has no usable index."""
    store = collection._store
    indexes = vars(store).get("_index_set")
    if indexes is None:
        if not store.indexes:
            return None
        indexes = vars(store)["_index_set"] = IndexSet(store)
    indexes.current()
    if store._ttl_indexes:
        store._remove_expired_documents()
        indexes.current()
    return indexes if indexes.indexes else None


def _plain(filter: Any) -> bool:
    """Filters the `_id` look-up of app/core/embedded.py answers (one key: no index needed)."""
    if not isinstance(filter, dict):
        return True
    _id = filter.get("_id", NOTHING)
    if isinstance(_id, dict):
        return list(_id) == ["$in"]
    return _id is not NOTHING and not isinstance(_id, list | re.Pattern | bson.regex.Regex)


def _planned(
    collection: Any, filter: Any, sort: list[tuple[str, int]] | None = None
) -> tuple[IndexSet, Plan] | None:
    """The collection's index set and its plan for the filter (and sort), None when nothing serves it."""
    indexes = index_set(collection)
    plan = None if indexes is None else indexes.plan(filter, sort)
    return None if plan is None or indexes is None else (indexes, plan)


def _near(filter: Any) -> bool:
    return any(
        isinstance(search, dict) and ("$near" in search or "$nearSphere" in search)
        for search in filter.values()
    )


def iter_documents(collection: Any, filter: Any) -> list[dict[str, Any]] | None:
    """Matching stored documents in insertion order (mongomock's scan order), or None to scan."""
    if _plain(filter):
        return None
    planned = _planned(collection, filter)
    if planned is None:
        return None
    indexes, plan = planned
    candidates = indexes.candidates(plan)
    if plan.covered:  # the bounds are the whole filter: every candidate matches (as a covered count says)
        filter_applies(filter, candidates[0] if candidates else {})  # an invalid filter still raises
        return candidates
    found = [doc for doc in candidates if filter_applies(filter, doc)]
    if not found:
        filter_applies(filter, {})  # an invalid filter raises as mongomock's scan would
    return found


def sorted_documents(collection: Any, filter: Any, sort: Any) -> Iterator[dict[str, Any]] | None:
    """Matching stored documents lazily in the sort's order when an index serves it, else None."""
    if not sort or _plain(filter) or _near(filter):
        return None
    normalized = [
        (item, 1) if isinstance(item, str) else (item[0], item[1])
        for item in (sort.items() if isinstance(sort, dict) else sort)
    ]
    if any(
        not isinstance(direction, int) or direction not in (1, -1) or path.startswith("$")
        for path, direction in normalized
    ):
        return None
    planned = _planned(collection, filter, normalized)
    if planned is None or not planned[1].served:
        return None
    indexes, plan = planned
    documents = indexes.documents
    ordered = (documents[doc_id] for doc_id in plan.ordered_ids())
    if plan.covered:  # the bounds are the whole filter: every document in them matches
        filter_applies(filter, {})  # an invalid filter still raises
        return ordered
    return _matching(filter, ordered)


def _matching(filter: Any, documents: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    any_found = False
    for doc in documents:
        if filter_applies(filter, doc):
            any_found = True
            yield doc
    if not any_found:
        filter_applies(filter, {})


def count(collection: Any, filter: Any, stop: int | None = None) -> int | None:
    """The number of matching documents, counted up to `stop` (None: all of them): from the index
    bounds alone when they state the whole filter, else, with a `stop`, by checking the plan's
    candidates until `stop` match (a bounded count reads at most what it reports, as on mongod).
    None: mongomock counts."""
    if _plain(filter):
        return None
    planned = _planned(collection, filter)
    if planned is None:
        return None
    indexes, plan = planned
    if plan.covered:
        return plan.count() if stop is None else min(plan.count(), stop)
    if stop is None:
        return None
    ids: Iterator[Any] = itertools.chain(plan.ids(), plan.index.others)
    if plan.index.multikey:
        ids = iter(dict.fromkeys(ids))
    documents, found = indexes.documents, 0
    for doc_id in ids:
        if filter_applies(filter, documents[doc_id]):
            found += 1
            if found >= stop:
                return found
    if not found:
        filter_applies(filter, {})  # an invalid filter raises as mongomock's scan would
    return found


def _count_window(options: dict[str, Any]) -> tuple[int, int | None] | None:
    """(skip, limit) of `count_documents` options the index answers; None for anything else (mongomock
    then validates and counts them itself)."""
    if set(options) - {"maxTimeMS", "hint", "skip", "limit"}:
        return None
    skip, limit = options.get("skip", 0), options.get("limit")
    if type(skip) is not int or skip < 0 or (limit is not None and (type(limit) is not int or limit <= 0)):
        return None
    return skip, limit


def group_counts(collection: Any, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """`[{$match}, {$group: {_id: "$f", n: {$sum: 1}}}]` answered by one covered count per value of
    `f` the match allows (`f: value` or `f: {$in: values}`); None for any other pipeline."""
    if len(pipeline) != 2 or list(pipeline[1]) != ["$group"]:
        return None
    match = _helpers.patch_datetime_awareness_in_document(pipeline[0]["$match"])
    group = pipeline[1]["$group"]
    key = group.get("_id")
    sums = {name: spec for name, spec in group.items() if name != "_id"}
    if not (isinstance(key, str) and key.startswith("$") and len(sums) == 1 and isinstance(match, dict)):
        return None
    (name, spec), field = next(iter(sums.items())), key[1:]
    search = match.get(field, NOTHING)
    if spec != {"$sum": 1} or "." in field:
        return None
    if isinstance(search, dict) and list(search) == ["$in"] and isinstance(search["$in"], list):
        values = list(dict.fromkeys(search["$in"]))
    elif search is not NOTHING and not isinstance(search, dict | list) and search is not None:
        values = [search]
    else:
        return None
    # Numbers aside: 1 and 1.0 count together and the group key is the stored one, which only a read says.
    if not all(_scalar(value) and type(value) in (str, bson.ObjectId, datetime) for value in values):
        return None
    rows = []
    for value in values:
        found = count(collection, {**match, field: value})
        if found is None:
            return None
        if found:
            rows.append({"_id": value, name: found})
    return rows


def duplicate_of(
    collection: Any, doc: dict[str, Any]
) -> tuple[bool, tuple[str, list[tuple[str, Any]]] | None]:
    """Whether `doc` (inserted or updated, stored or not yet) breaks a unique index, from the indexes:
    `(True, None)` when it breaks none, `(True, (name, keys))` for the first it breaks, `(False, None)` when an
    index cannot tell (sparse, partial or unorderable values: mongomock's scan decides)."""
    indexes = index_set(collection)
    if indexes is None:
        return False, None
    by_name = {index.name: index for index in indexes.indexes}
    doc_id = doc.get("_id")
    if isinstance(doc_id, dict):
        return False, None
    checks = []
    for name, spec in collection._store.indexes.items():
        if not spec.get("unique"):
            continue
        index = by_name.get(name)
        if index is None or index.sparse or index.partial is not None or index.others or index.empties:
            return False, None
        keys = index.keys(doc, 0, doc_id)
        if keys is None or (keys and has_empty(keys, len(index.fields))):  # mongod's `undefined`: the scan's
            return False, None
        checks.append((index, spec, keys))
    for index, spec, keys in checks:
        width, entries = len(index.fields), index.entries
        for key in keys:
            prefix = key[:width]
            position = bisect.bisect_left(entries, prefix)
            while position < len(entries) and entries[position][:width] == prefix:
                if entries[position][width + 1] != doc_id:
                    return True, (index.name, list(spec["key"]))
                position += 1
    return True, None


def expire(store: CollectionStore, name: str, spec: dict[str, Any]) -> bool:
    """TTL expiry of one TTL index read from its entries: the documents whose date is past the cutoff
    (and the `others` bucket), each checked with mongomock's own test, instead of mongomock's test of
    every stored document before every read (which made a loop of reads quadratic in the collection).
    False when the index cannot tell (mongomock's scan then expires)."""
    indexes = vars(store).get("_index_set")
    if indexes is None:
        return False
    indexes.current()
    try:
        seconds = int(spec["expireAfterSeconds"])
    except ValueError:
        return True  # mongomock ignores such an index
    if len(spec["key"]) > 1:
        return True  # mongomock ignores compound TTL indexes
    index = next((index for index in indexes.indexes if index.name == name), None)
    path = next(iter(spec["key"]))[0]
    if index is None or index.partial is not None or index.fields != [(path, False)]:
        return False
    ttl_now = mongomock_ng.utcnow()  # type: ignore[attr-defined]  # mongomock reads it here (patchable)
    now = ttl_now
    if now.tzinfo is not None:
        if now.utcoffset() != timedelta(0):
            return False  # mongomock reads stored (naive) dates in that zone
        now = now.replace(tzinfo=None)
    cutoff = now - timedelta(seconds=seconds)
    entries, documents = index.entries, indexes.documents
    start = bisect.bisect_left(entries, ((45,),))
    stop = bisect.bisect_right(entries, ((45, cutoff), _TOP))
    candidates = dict.fromkeys(entries[position][2] for position in range(start, stop))
    candidates.update(dict.fromkeys(index.others))
    expired = [
        doc_id
        for doc_id in candidates
        if store._value_meets_expiry(_helpers.get_value_by_dot(documents[doc_id], path), seconds, ttl_now)
    ]
    for doc_id in expired:
        del store[doc_id]
    return True


def install(enabled: Callable[[Any], bool]) -> None:
    """Patch mongomock-ng's store and collection; queries use the indexes only for collections
    `enabled` says are ours (the store hooks cost nothing where no query ever attached an index set)."""
    if getattr(CollectionStore.__setitem__, "indexed", False):
        return
    iter_docs: Callable[..., Any] = _SyncCollection._iter_documents
    get_dataset: Callable[..., Any] = _SyncCollection._get_dataset
    count_documents: Callable[..., Any] = _SyncCollection.count_documents
    update_documents: Callable[..., Any] = _SyncCollection._update_documents
    ensure_uniques: Callable[..., Any] = _SyncCollection._ensure_uniques

    def _iter_documents(self: Any, filter: Any) -> Any:
        found = iter_documents(self, filter) if enabled(self) else None
        return iter_docs(self, filter) if found is None else iter(found)

    def _get_dataset(self: Any, spec: Any, sort: Any, fields: Any, as_class: Any) -> Any:
        found = sorted_documents(self, spec, sort) if sort and enabled(self) else None
        if found is None:
            return get_dataset(self, spec, sort, fields, as_class)
        copy = self._copy_only_fields
        return (doc for doc in (copy(doc, fields, as_class, filter=spec) for doc in found) if doc is not None)

    def _count_documents(self: Any, filter: Any, comment: Any = None, **kwargs: Any) -> Any:
        window = _count_window(kwargs) if enabled(self) and not comment else None
        if window is not None:
            skip, limit = window
            stop = None if limit is None else skip + limit
            found = count(self, _helpers.patch_datetime_awareness_in_document(filter), stop)
            if found is not None:  # mongomock's arithmetic on its own count
                found = max(found - skip, 0)
                return found if limit is None else min(found, limit)
        return count_documents(self, filter, comment, **kwargs)

    def _ensure_uniques(self: Any, new_data: Any) -> None:
        decided, broken = duplicate_of(self, new_data) if enabled(self) else (False, None)
        if not decided:
            ensure_uniques(self, new_data)
        elif broken is not None:
            name, keys = broken
            key_value = {key: _helpers.get_value_by_dot(new_data, key) for key, _ in keys}
            raise DuplicateKeyError(
                f"E11000 duplicate key error collection: {self.full_name} index: {name} dup key: {key_value}",
                11000,
                {"keyPattern": dict(keys), "keyValue": key_value},
            )

    def _update_documents(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return update_documents(self, *args, **kwargs)
        except DuplicateKeyError:
            raise  # mongomock put the stored document back (through the hooked store): entries are right
        except BaseException:
            # mongomock may have changed a stored document in place before failing, without storing
            # it again: rebuild this collection's index set at its next read.
            indexes = vars(self._store).get("_index_set")
            if indexes is not None:
                indexes.version = -1
            raise

    _SyncCollection._iter_documents = _iter_documents  # type: ignore[method-assign]
    _SyncCollection._get_dataset = _get_dataset  # type: ignore[method-assign]
    _SyncCollection.count_documents = _count_documents  # type: ignore[method-assign]
    _SyncCollection._update_documents = _update_documents  # type: ignore[method-assign]
    _SyncCollection._ensure_uniques = _ensure_uniques  # type: ignore[method-assign]
    set_item: Callable[..., None] = CollectionStore.__setitem__
    del_item: Callable[..., None] = CollectionStore.__delitem__
    create_index: Callable[..., None] = CollectionStore.create_index
    drop_index: Callable[..., None] = CollectionStore.drop_index

    def __setitem__(self: CollectionStore, key: Any, value: Any) -> None:
        set_item(self, key, value)
        indexes = vars(self).get("_index_set")
        if indexes is not None:
            indexes.put(key, value)

    def __delitem__(self: CollectionStore, key: Any) -> None:
        del_item(self, key)
        indexes = vars(self).get("_index_set")
        if indexes is not None:
            indexes.delete(key)

    def bump(self: CollectionStore) -> None:
        vars(self)["_index_version"] = vars(self).get("_index_version", 0) + 1

    def _create_index(self: CollectionStore, name: str, spec: Any) -> None:
        create_index(self, name, spec)
        bump(self)

    def _drop_index(self: CollectionStore, name: str) -> None:
        drop_index(self, name)
        bump(self)

    stock_expire: Callable[..., None] = CollectionStore._expire_documents

    def _remove_expired_documents(self: CollectionStore) -> None:
        for name, spec in list(self._ttl_indexes.items()):
            if not expire(self, name, spec):
                stock_expire(self, spec)

    __setitem__.indexed = True  # type: ignore[attr-defined]
    CollectionStore.__setitem__ = __setitem__  # type: ignore[method-assign]
    CollectionStore.__delitem__ = __delitem__  # type: ignore[method-assign]
    CollectionStore.create_index = _create_index  # type: ignore[method-assign]
    CollectionStore.drop_index = _drop_index  # type: ignore[method-assign]
    CollectionStore._remove_expired_documents = _remove_expired_documents  # type: ignore[method-assign]
