"""The embedded engine refuses what mongod 7.0 refuses: static rules on a command's arguments.

mongomock-ng accepts many commands a real server rejects (conflicting update paths, `$expr` in an
upsert filter, mixed projections, unknown operators, index options mongod forbids...). Every call the
adapter (`app.core.embedded`) hands to the engine first passes `check_call`, which raises what PyMongo
would raise against mongod: `WriteError` (single writes) / `BulkWriteError` / `OperationFailure` with
mongod's error code, or PyMongo's own client-side error (`InvalidDocument`, `ValueError`, `TypeError`)
for what PyMongo refuses before sending. Always on: `make run` and every test fail where production
would. The rules look at the arguments only (cheap, no documents); the ones that need the stored
documents live in `app.core.embedded_fidelity` (engine) and `tests/mongo_rules` (pytest plugin).

Codes and messages follow mongod 7.0 (src/mongo/db/update, matcher, pipeline, catalog). Reference:
docs/decisions.md, "Rule checks on the embedded engine".
"""

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, NoReturn

import bson
import bson.tz_util
from bson.errors import InvalidDocument
from bson.regex import Regex
from pymongo.errors import BulkWriteError, DocumentTooLarge, OperationFailure, WriteError

from app.core.plain import plain

# mongod's error codes (src/mongo/base/error_codes.yml) used below; a bare number is a `Location` code.
BAD_VALUE = 2
FAILED_TO_PARSE = 9
TYPE_MISMATCH = 14
PATH_NOT_VIABLE = 28
CONFLICTING_UPDATE_OPERATORS = 40
DOLLAR_PREFIXED_FIELD_NAME = 52
NOT_SINGLE_VALUE_FIELD = 54
EMPTY_FIELD_NAME = 56
IMMUTABLE_FIELD = 66
CANNOT_CREATE_INDEX = 67
INVALID_OPTIONS = 72
INDEX_OPTIONS_CONFLICT = 85
INDEX_KEY_SPECS_CONFLICT = 86
INVALID_PIPELINE_OPERATOR = 168
INVALID_INDEX_SPECIFICATION_OPTION = 197
QUERY_FEATURE_NOT_ALLOWED = 224
CODE_NAMES = {
    BAD_VALUE: "BadValue",
    FAILED_TO_PARSE: "FailedToParse",
    TYPE_MISMATCH: "TypeMismatch",
    PATH_NOT_VIABLE: "PathNotViable",
    CONFLICTING_UPDATE_OPERATORS: "ConflictingUpdateOperators",
    DOLLAR_PREFIXED_FIELD_NAME: "DollarPrefixedFieldName",
    NOT_SINGLE_VALUE_FIELD: "NotSingleValueField",
    EMPTY_FIELD_NAME: "EmptyFieldName",
    IMMUTABLE_FIELD: "ImmutableField",
    CANNOT_CREATE_INDEX: "CannotCreateIndex",
    INVALID_OPTIONS: "InvalidOptions",
    INDEX_OPTIONS_CONFLICT: "IndexOptionsConflict",
    INDEX_KEY_SPECS_CONFLICT: "IndexKeySpecsConflict",
    INVALID_PIPELINE_OPERATOR: "InvalidPipelineOperator",
    INVALID_INDEX_SPECIFICATION_OPTION: "InvalidIndexSpecificationOption",
    QUERY_FEATURE_NOT_ALLOWED: "QueryFeatureNotAllowed",
}

UPDATE_OPERATORS = frozenset(
    {"$currentDate", "$inc", "$min", "$max", "$mul", "$rename", "$set", "$setOnInsert", "$unset",
     "$addToSet", "$pop", "$pull", "$push", "$pullAll", "$bit"}
)  # fmt: skip
PIPELINE_UPDATE_STAGES = frozenset(
    {"$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"}
)
TOP_LEVEL_QUERY_OPERATORS = frozenset(
    {"$and", "$or", "$nor", "$expr", "$where", "$text", "$comment", "$jsonSchema", "$alwaysTrue",
     "$alwaysFalse", "$sampleRate"}
)  # fmt: skip
FIELD_QUERY_OPERATORS = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$type", "$mod", "$regex",
     "$options", "$elemMatch", "$size", "$all", "$not", "$bitsAllSet", "$bitsAnySet", "$bitsAllClear",
     "$bitsAnyClear", "$geoWithin", "$geoIntersects", "$near", "$nearSphere", "$minDistance",
     "$maxDistance", "$within", "$comment"}
)  # fmt: skip
TYPE_ALIASES = frozenset(
    {"double", "string", "object", "array", "binData", "undefined", "objectId", "bool", "date", "null",
     "regex", "dbPointer", "javascript", "symbol", "javascriptWithScope", "int", "timestamp", "long",
     "decimal", "minKey", "maxKey", "number"}
)  # fmt: skip
TYPE_CODES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, -1, 127})
STAGES = frozenset(
    {"$addFields", "$bucket", "$bucketAuto", "$changeStream", "$collStats", "$count", "$currentOp",
     "$densify", "$documents", "$facet", "$fill", "$geoNear", "$graphLookup", "$group", "$indexStats",
     "$limit", "$listLocalSessions", "$listSessions", "$lookup", "$match", "$merge", "$out",
     "$planCacheStats", "$project", "$redact", "$replaceRoot", "$replaceWith", "$sample", "$search",
     "$searchMeta", "$set", "$setWindowFields", "$skip", "$sort", "$sortByCount", "$unionWith", "$unset",
     "$unwind"}
)  # fmt: skip
ACCUMULATORS = frozenset(
    {"$accumulator", "$addToSet", "$avg", "$bottom", "$bottomN", "$count", "$first", "$firstN", "$last",
     "$lastN", "$max", "$maxN", "$median", "$mergeObjects", "$min", "$minN", "$percentile", "$push",
     "$stdDevPop", "$stdDevSamp", "$sum", "$top", "$topN"}
)  # fmt: skip
EXPRESSION_OPERATORS = frozenset(
    {"$abs", "$add", "$ceil", "$divide", "$exp", "$floor", "$ln", "$log", "$log10", "$mod", "$multiply",
     "$pow", "$round", "$sqrt", "$subtract", "$trunc", "$arrayElemAt", "$arrayToObject", "$concatArrays",
     "$filter", "$first", "$firstN", "$in", "$indexOfArray", "$isArray", "$last", "$lastN", "$map", "$maxN",
     "$minN", "$objectToArray", "$range", "$reduce", "$reverseArray", "$size", "$slice", "$sortArray",
     "$zip", "$bitAnd", "$bitNot", "$bitOr", "$bitXor", "$and", "$not", "$or", "$cmp", "$eq", "$gt", "$gte",
     "$lt", "$lte", "$ne", "$cond", "$ifNull", "$switch", "$accumulator", "$function", "$binarySize",
     "$bsonSize", "$dateAdd", "$dateDiff", "$dateFromParts", "$dateFromString", "$dateSubtract",
     "$dateToParts", "$dateToString", "$dateTrunc", "$dayOfMonth", "$dayOfWeek", "$dayOfYear", "$hour",
     "$isoDayOfWeek", "$isoWeek", "$isoWeekYear", "$millisecond", "$minute", "$month", "$second", "$toDate",
     "$week", "$year", "$literal", "$getField", "$rand", "$sampleRate", "$toHashedIndexKey",
     "$mergeObjects", "$setField", "$unsetField", "$allElementsTrue", "$anyElementTrue", "$setDifference",
     "$setEquals", "$setIntersection", "$setIsSubset", "$setUnion", "$concat", "$indexOfBytes",
     "$indexOfCP", "$ltrim", "$regexFind", "$regexFindAll", "$regexMatch", "$replaceOne", "$replaceAll",
     "$rtrim", "$split", "$strLenBytes", "$strLenCP", "$strcasecmp", "$substr", "$substrBytes",
     "$substrCP", "$toLower", "$toString", "$trim", "$toUpper", "$meta", "$tsIncrement", "$tsSecond",
     "$sin", "$cos", "$tan", "$asin", "$acos", "$atan", "$atan2", "$asinh", "$acosh", "$atanh", "$sinh",
     "$cosh", "$tanh", "$degreesToRadians", "$radiansToDegrees", "$convert", "$isNumber", "$toBool",
     "$toDecimal", "$toDouble", "$toInt", "$toLong", "$toObjectId", "$type", "$avg", "$max", "$min",
     "$sum", "$stdDevPop", "$stdDevSamp", "$median", "$percentile", "$let"}
)  # fmt: skip
SYSTEM_VARIABLES = frozenset(
    {"NOW", "CLUSTER_TIME", "ROOT", "CURRENT", "REMOVE", "DESCEND", "PRUNE", "KEEP", "SEARCH_META",
     "USER_ROLES"}
)  # fmt: skip
INDEX_OPTIONS = frozenset(
    {"key", "name", "unique", "sparse", "partialFilterExpression", "expireAfterSeconds", "hidden",
     "collation", "background", "v", "ns", "weights", "default_language", "language_override",
     "textIndexVersion", "2dsphereIndexVersion", "bits", "min", "max", "bucketSize",
     "wildcardProjection", "storageEngine", "prepareUnique", "clustered"}
)  # fmt: skip
INDEX_TYPES = frozenset({"text", "2d", "2dsphere", "hashed", "columnstore"})
PARTIAL_FILTER_OPERATORS = frozenset({"$eq", "$exists", "$gt", "$gte", "$lt", "$lte", "$type", "$in"})
MAX_SORT_KEYS = 32
MAX_TTL_SECONDS = 2147483647
# The app's client: tz-aware datetimes, PyMongo's default UUID representation (a uuid.UUID is refused).
CODEC: bson.CodecOptions[dict[str, Any]] = bson.CodecOptions(tz_aware=True)
_POSITIONAL = re.compile(r"\$(\[[^\]]*\])?")
_ARRAY_FILTER_IDENTIFIER = re.compile(r"\$\[([^\]]*)\]")


class Refusal(Exception):
    """A rule mongod enforces, broken: its error code and message (turned into PyMongo's exception)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def refuse(code: int, message: str) -> NoReturn:
    raise Refusal(code, message)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | bson.Int64 | bson.Decimal128) and not isinstance(value, bool)


def _as_float(value: Any) -> float:
    return float(value.to_decimal()) if isinstance(value, bson.Decimal128) else float(value)


def _is_operator_doc(value: Any) -> bool:
    """mongod reads an object as operators when its FIRST field name starts with '$'."""
    if not isinstance(value, Mapping) or not value:
        return False
    first = next(iter(value))
    return isinstance(first, str) and first.startswith("$")


def _overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


# ------------------------------------------------------------------------------------------------------
# BSON: what PyMongo can send at all


def check_encodable(value: Any, what: str) -> None:
    """PyMongo encodes every document it sends: an unencodable value fails before anything is sent, with
    PyMongo's own error (`InvalidDocument`; `ValueError` for a `uuid.UUID` under the default UUID
    representation; `OverflowError` for an int beyond 64 bits)."""
    data = bson.encode({"v": value}, codec_options=CODEC)
    if len(data) > 16 * 1024 * 1024:
        raise DocumentTooLarge(f"{what}: BSON document too large ({len(data)} bytes)")


# ------------------------------------------------------------------------------------------------------
# filters


def check_filter(flt: Any, *, upsert: bool = False, in_aggregation: bool = False) -> None:
    if flt is None:
        return
    if not isinstance(flt, Mapping):
        raise TypeError(
            f"filter must be an instance of dict, bson.son.SON, or any other type that inherits from collections.Mapping, not {type(flt)}"
        )
    _walk_filter(flt, in_aggregation=in_aggregation)
    if upsert:
        if _contains_key(flt, "$expr"):
            refuse(QUERY_FEATURE_NOT_ALLOWED, "$expr is not allowed in the query predicate for an upsert")
        _check_upsert_equalities(flt)


def _contains_key(node: Any, key: str) -> bool:
    if isinstance(node, Mapping):
        return key in node or any(_contains_key(v, key) for v in node.values())
    if isinstance(node, list | tuple):
        return any(_contains_key(v, key) for v in node)
    return False


def _walk_filter(flt: Mapping[str, Any], *, in_aggregation: bool) -> None:
    for key, value in flt.items():
        if not isinstance(key, str):
            raise InvalidDocument(f"documents must have only string keys, key was {key!r}")
        if not key.startswith("$"):
            _check_condition(key, value, in_aggregation=in_aggregation)
            continue
        if key not in TOP_LEVEL_QUERY_OPERATORS:
            refuse(BAD_VALUE, f"unknown top level operator: {key}")
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list | tuple) or not value:
                refuse(BAD_VALUE, f"{key} must be a nonempty array")
            for entry in value:
                if not isinstance(entry, Mapping):
                    refuse(BAD_VALUE, f"$or/$and/$nor entries need to be full objects: {entry!r}")
                _walk_filter(entry, in_aggregation=in_aggregation)
        elif key == "$expr":
            check_expression(value, frozenset())
        elif key == "$where" and in_aggregation:
            refuse(BAD_VALUE, "$where is not allowed inside of a $match aggregation expression")


def _check_condition(path: str, value: Any, *, in_aggregation: bool) -> None:
    if not _is_operator_doc(value):
        return  # equality with a literal (a document literal compares whole: mongod's rule too)
    for op, arg in value.items():
        if not isinstance(op, str) or not op.startswith("$"):
            refuse(BAD_VALUE, f"unknown operator: {op}")
        if op not in FIELD_QUERY_OPERATORS:
            refuse(BAD_VALUE, f"unknown operator: {op}")
        _check_field_operator(path, op, arg, value, in_aggregation=in_aggregation)


def _check_field_operator(
    path: str, op: str, arg: Any, whole: Mapping[str, Any], *, in_aggregation: bool
) -> None:
    if op in ("$in", "$nin", "$all"):
        if not isinstance(arg, list | tuple):
            refuse(BAD_VALUE, f"{op} needs an array")
        for item in arg:
            if _is_operator_doc(item) and not (op == "$all" and "$elemMatch" in item):
                refuse(BAD_VALUE, f"cannot nest $ under {op}")
    elif op == "$regex":
        if not isinstance(arg, str | re.Pattern | Regex):
            refuse(BAD_VALUE, "$regex has to be a string")
        options = whole.get("$options")
        if options is not None:
            if not isinstance(options, str):
                refuse(BAD_VALUE, "$options has to be a string")
            bad = set(options) - set("imxsu")
            if bad:
                refuse(51108, f"invalid flag in regex options: {sorted(bad)[0]}")
            if isinstance(arg, re.Pattern | Regex) and _pattern_flags(arg):
                refuse(51075, "options set in both $regex and $options")
    elif op == "$options":
        if "$regex" not in whole:
            refuse(BAD_VALUE, "$options needs a $regex")
    elif op == "$elemMatch":
        if not isinstance(arg, Mapping):
            refuse(BAD_VALUE, "$elemMatch needs an Object")
        if _is_operator_doc(arg) and not any(k in ("$and", "$or", "$nor", "$expr", "$where") for k in arg):
            for sub_op, sub_arg in arg.items():
                if sub_op not in FIELD_QUERY_OPERATORS:
                    refuse(BAD_VALUE, f"unknown operator: {sub_op}")
                _check_field_operator(path, sub_op, sub_arg, arg, in_aggregation=in_aggregation)
        else:
            _walk_filter(arg, in_aggregation=in_aggregation)
    elif op == "$size":
        if not _is_number(arg) or _as_float(arg) < 0 or not _as_float(arg).is_integer():
            refuse(BAD_VALUE, f"Failed to parse $size. Expected a non-negative whole number, got {arg!r}")
    elif op == "$type":
        for item in arg if isinstance(arg, list | tuple) else [arg]:
            if isinstance(item, str):
                if item not in TYPE_ALIASES:
                    refuse(BAD_VALUE, f"Unknown type name alias: {item}")
            elif _is_number(item):
                if _as_float(item) not in TYPE_CODES:
                    refuse(BAD_VALUE, f"Invalid numerical type code: {item}")
            else:
                refuse(BAD_VALUE, "type must be represented as a number or a string")
    elif op == "$mod":
        if not isinstance(arg, list | tuple) or len(arg) != 2 or not all(_is_number(x) for x in arg):
            refuse(BAD_VALUE, "malformed mod, needs to be an array of two numbers")
        if _as_float(arg[0]) == 0:
            refuse(BAD_VALUE, "divisor cannot be 0")
    elif op == "$not":
        if isinstance(arg, re.Pattern | Regex):
            return
        if not isinstance(arg, Mapping):
            refuse(BAD_VALUE, "$not needs a regex or a document")
        if not arg:
            refuse(BAD_VALUE, "$not cannot be empty")
        if not _is_operator_doc(arg):
            refuse(BAD_VALUE, f"unknown operator: {next(iter(arg))}")
        _check_condition(path, arg, in_aggregation=in_aggregation)
    elif op in ("$near", "$nearSphere") and in_aggregation:
        refuse(BAD_VALUE, f"{op} is not allowed inside of a $match aggregation expression")


def _pattern_flags(pattern: re.Pattern[Any] | Regex[Any]) -> int:
    if isinstance(pattern, Regex):
        return int(bool(pattern.flags))
    return pattern.flags & ~re.UNICODE


def _equality_paths(flt: Mapping[str, Any]) -> list[str]:
    """The paths an upsert copies into the document it inserts (top-level and `$and` equalities)."""
    paths: list[str] = []
    for key, value in flt.items():
        if key == "$and" and isinstance(value, list | tuple):
            for entry in value:
                if isinstance(entry, Mapping):
                    paths.extend(_equality_paths(entry))
        elif not key.startswith("$") and (not _is_operator_doc(value) or "$eq" in value):
            paths.append(key)
    return paths


def _check_upsert_equalities(flt: Mapping[str, Any]) -> None:
    paths = _equality_paths(flt)
    split = [p.split(".") for p in paths]
    for i, a in enumerate(split):
        for j in range(i + 1, len(split)):
            if _overlap(a, split[j]):
                if a == split[j]:
                    refuse(
                        NOT_SINGLE_VALUE_FIELD,
                        f"cannot infer query fields to set, path '{paths[i]}' is matched twice",
                    )
                refuse(NOT_SINGLE_VALUE_FIELD, f"cannot infer query fields to set, both paths '{paths[i]}' and '{paths[j]}' are matched")  # fmt: skip


# ------------------------------------------------------------------------------------------------------
# updates


def check_update(update: Any, *, flt: Any = None, upsert: bool = False, array_filters: Any = None) -> None:
    if isinstance(update, list | tuple):
        check_pipeline_update(update, array_filters=array_filters)
        return
    if not isinstance(update, Mapping):
        raise TypeError("update must be an instance of dict, bson.son.SON, or any other type that inherits from collections.Mapping")  # fmt: skip
    if not update:
        raise ValueError("update cannot be empty")
    first = next(iter(update))
    if not isinstance(first, str) or not first.startswith("$"):
        raise ValueError("update only works with $ operators")
    modified: list[tuple[str, str]] = []  # (operator, path)
    dynamic = False  # a path with '$' (positional, arrayFilters) or a top-level '$' field
    for op, body in update.items():
        if op not in UPDATE_OPERATORS:
            refuse(FAILED_TO_PARSE, f"Unknown modifier: {op}. Expected a valid update modifier or pipeline-style update specified as an array")  # fmt: skip
        if not isinstance(body, Mapping):
            refuse(FAILED_TO_PARSE, f"Modifiers operate on fields but we found type {type(body).__name__} instead. For example: {{$mod: {{<field>: ...}}}} not {{{op}: {body!r}}}")  # fmt: skip
        plain = op in _NO_OPERAND_RULES
        for path, value in body.items():
            if type(path) is not str and not isinstance(path, str):
                raise InvalidDocument(f"documents must have only string keys, key was {path!r}")
            if not path or path[0] == "." or path[-1] == "." or ".." in path:
                _check_update_path(op, path)
            if "$" in path:
                dynamic = True
                _check_update_path(op, path)
                # An upsert that inserts may create one (an insert); an update of a stored document may not.
                if op in ("$set", "$setOnInsert") and not upsert and path[0] == "$" and not _POSITIONAL.fullmatch(path.split(".")[0]):  # fmt: skip
                    refuse(DOLLAR_PREFIXED_FIELD_NAME, f"The dollar ($) prefixed field '{path}' in '{path}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.")  # fmt: skip
            if not plain:
                _check_update_operand(op, path, value)
            modified.append((op, path))
            if op == "$rename":
                modified.append((op, value))
            if path[:3] == "_id" and (len(path) == 3 or path[3] == ".") and op not in _MAY_KEEP_ID:
                refuse(IMMUTABLE_FIELD, f"Performing an update on the path '{path}' would modify the immutable field '_id'")  # fmt: skip
    if len(modified) > 1:
        _check_conflicts(modified)
    if dynamic or array_filters:
        _check_array_filters(modified, array_filters)
        _check_positional(modified, flt, upsert)


_NO_OPERAND_RULES = frozenset({"$set", "$setOnInsert", "$unset", "$min", "$max", "$pull"})
_MAY_KEEP_ID = frozenset({"$set", "$setOnInsert", "$min", "$max"})  # checked on the document (66)


def _check_update_path(op: str, path: str) -> None:
    if path == "":
        refuse(EMPTY_FIELD_NAME, "An empty update path is not valid.")
    parts = path.split(".")
    if "" in parts:
        refuse(
            EMPTY_FIELD_NAME, f"The update path '{path}' contains an empty field name, which is not allowed."
        )
    if parts.count("$") > 1:
        refuse(BAD_VALUE, f"Too many positional (i.e. '$') elements found in path '{path}'")


def _check_update_operand(op: str, path: str, value: Any) -> None:
    if op in ("$inc", "$mul"):
        if not _is_number(value):
            verb = "increment" if op == "$inc" else "multiply"
            refuse(TYPE_MISMATCH, f"Cannot {verb} with non-numeric argument: {{{path}: {value!r}}}")
    elif op == "$pop":
        if not _is_number(value) or _as_float(value) not in (1.0, -1.0):
            refuse(FAILED_TO_PARSE, f"$pop expects 1 or -1, found: {value!r}")
    elif op == "$currentDate":
        ok = isinstance(value, bool) or (
            isinstance(value, Mapping)
            and list(value) == ["$type"]
            and value["$type"] in ("date", "timestamp")
        )
        if not ok:
            refuse(BAD_VALUE, f"{value!r} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({{$type: 'timestamp/date'}}).")  # fmt: skip
    elif op == "$rename":
        if not isinstance(value, str):
            refuse(BAD_VALUE, f"The 'to' field for $rename must be a string: {path}: {value!r}")
        source, target = path.split("."), value.split(".")
        if path == value:
            refuse(BAD_VALUE, f"The source and target field for $rename must differ: {path}: {value!r}")
        if _overlap(source, target):
            refuse(BAD_VALUE, f"The source and target field for $rename must not be on the same path: {path}: {value!r}")  # fmt: skip
        if any(part.startswith("$") for part in source + target):
            refuse(BAD_VALUE, f"The source/destination field for $rename may not be dynamic: {path}")
        _check_update_path(op, value)
    elif op == "$pullAll":
        if not isinstance(value, list | tuple):
            refuse(BAD_VALUE, f"$pullAll requires an array argument but was given a {type(value).__name__}")
    elif op in ("$push", "$addToSet") and _is_operator_doc(value):
        allowed = {"$each", "$slice", "$sort", "$position"} if op == "$push" else {"$each"}
        for clause in value:
            if clause not in allowed:
                refuse(BAD_VALUE, f"Unrecognized clause in {op}: {clause}")
        if "$each" in value and not isinstance(value["$each"], list | tuple):
            refuse(BAD_VALUE, f"The argument to $each in {op} must be an array but it was of type: {type(value['$each']).__name__}")  # fmt: skip
        for clause in ("$slice", "$position"):
            if clause in value and not (_is_number(value[clause]) and _as_float(value[clause]).is_integer()):
                refuse(BAD_VALUE, f"The value for {clause} must be an integer value but was given type: {type(value[clause]).__name__}")  # fmt: skip
    elif op == "$bit" and (
        not isinstance(value, Mapping) or not value or any(k not in ("and", "or", "xor") for k in value)
    ):
        refuse(BAD_VALUE, f"The $bit modifier only supports 'and', 'or', and 'xor', not {value!r}")


def _check_conflicts(modified: list[tuple[str, str]]) -> None:
    """Two modified paths where one is the other or a prefix of it (mongod: ConflictingUpdateOperators).

    Sorted by components, a path is followed by its extensions; if any pair overlaps, some neighbours do.
    """
    ordered = sorted(tuple(path.split(".")) for _, path in modified)
    for shorter, longer in itertools.pairwise(ordered):
        if longer[: len(shorter)] == shorter:
            refuse(CONFLICTING_UPDATE_OPERATORS, f"Updating the path '{'.'.join(longer)}' would create a conflict at '{'.'.join(shorter)}'")  # fmt: skip


def _check_array_filters(modified: list[tuple[str, str]], array_filters: Any) -> None:
    used = {
        m.group(1)
        for _, path in modified
        for part in path.split(".")
        if (m := _ARRAY_FILTER_IDENTIFIER.fullmatch(part)) and m.group(1)
    }
    declared: list[str] = []
    for flt in array_filters or ():
        if not isinstance(flt, Mapping) or not flt:
            refuse(FAILED_TO_PARSE, "Cannot use an expression without a top-level field name in arrayFilters")
        identifiers = {str(k).split(".")[0] for k in flt if not str(k).startswith("$")}
        if len(identifiers) != 1:
            refuse(FAILED_TO_PARSE, "Each array filter must use a single top-level field name")
        (identifier,) = identifiers
        if not re.fullmatch(r"[a-z][a-zA-Z0-9]*", identifier):
            refuse(BAD_VALUE, f"The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '{identifier}'")  # fmt: skip
        if identifier in declared:
            refuse(
                FAILED_TO_PARSE,
                f"Found multiple array filters with the same top-level field name {identifier}",
            )
        declared.append(identifier)
    for identifier in declared:
        if identifier not in used:
            refuse(
                FAILED_TO_PARSE, f"The array filter for identifier '{identifier}' was not used in the update"
            )
    for identifier in sorted(used - set(declared)):
        refuse(BAD_VALUE, f"No array filter found for identifier '{identifier}'")


def _filter_paths(flt: Any) -> list[list[str]]:
    paths: list[list[str]] = []
    if isinstance(flt, Mapping):
        for key, value in flt.items():
            if key in ("$and", "$or", "$nor") and isinstance(value, list | tuple):
                for entry in value:
                    paths.extend(_filter_paths(entry))
            elif isinstance(key, str) and not key.startswith("$"):
                paths.append(key.split("."))
    return paths


def _check_positional(modified: list[tuple[str, str]], flt: Any, upsert: bool) -> None:
    for _, path in modified:
        parts = path.split(".")
        if "$" not in parts:
            continue
        prefix = parts[: parts.index("$")]
        if upsert or not any(p[: len(prefix)] == prefix for p in _filter_paths(flt)):
            refuse(BAD_VALUE, "The positional operator did not find the match needed from the query.")


def check_pipeline_update(pipeline: Sequence[Any], *, array_filters: Any = None) -> None:
    if not pipeline:
        raise ValueError("update cannot be empty")
    if array_filters:
        refuse(FAILED_TO_PARSE, "arrayFilters may not be specified for pipeline-style updates")
    for stage in pipeline:
        if isinstance(stage, Mapping) and len(stage) == 1:
            name = next(iter(stage))
            if name not in PIPELINE_UPDATE_STAGES:
                refuse(INVALID_OPTIONS, f"{name} is not allowed to be used within an update")
    check_pipeline(pipeline)


# ------------------------------------------------------------------------------------------------------
# inserted and replacement documents


def check_document(doc: Any, *, replacement: bool = False) -> None:
    if not isinstance(doc, Mapping):
        raise TypeError(f"document must be an instance of dict, bson.son.SON, bson.raw_bson.RawBSONDocument, or a type that inherits from collections.MutableMapping, not {type(doc)}")  # fmt: skip
    # Inserts may hold top-level '$' fields since 5.0 (a replacement may not).
    for key in doc if replacement else ():
        if isinstance(key, str) and key.startswith("$"):
            if key == next(iter(doc)):
                raise ValueError("replacement can not include $ operators")
            refuse(DOLLAR_PREFIXED_FIELD_NAME, f"The dollar ($) prefixed field '{key}' in '{key}' is not allowed in the context of an update's replacement document.")  # fmt: skip
    if "_id" in doc:
        _id = doc["_id"]
        if isinstance(_id, list | tuple):
            refuse(BAD_VALUE, "can't use an array for _id")
        if isinstance(_id, re.Pattern | Regex):
            refuse(BAD_VALUE, "can't use a regex for _id")
        if isinstance(_id, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in _id):
            refuse(DOLLAR_PREFIXED_FIELD_NAME, f"_id fields may not contain '$'-prefixed fields: {_id!r}")


# ------------------------------------------------------------------------------------------------------
# projections and sorts


def check_projection(projection: Any, *, flt: Any = None) -> None:
    if projection is None:
        return
    if isinstance(projection, list | tuple):
        projection = dict.fromkeys(projection, 1)
    if not isinstance(projection, Mapping):
        raise TypeError("projection must be an instance of dict, a list, or None")
    inclusion: list[str] = []
    exclusion: list[str] = []
    positional: list[str] = []
    for key, value in projection.items():
        if key.startswith("$"):
            refuse(16410, f"FieldPath field names may not start with '$'. Consider using $getField or $setField. ({key})")  # fmt: skip
        parts = key.split(".")
        if "$" in parts:
            positional.append(key)
            if parts[-1] != "$" or parts.count("$") > 1:
                refuse(31394, f"As of 4.4, it's illegal to specify positional operator in the middle of a path. ({key})")  # fmt: skip
        if isinstance(value, bool) or _is_number(value):
            if key != "_id":
                (inclusion if _as_float(value) != 0 else exclusion).append(key)
        elif isinstance(value, Mapping) and next(iter(value), None) in ("$slice", "$elemMatch", "$meta"):
            if "$elemMatch" in value and "." in key:
                refuse(31275, f"Cannot use $elemMatch projection on a nested field. ({key})")
        else:
            inclusion.append(key)  # a computed field (4.4+) or a literal
            if _is_operator_doc(value):
                check_expression(value, frozenset())
    if inclusion and exclusion:
        refuse(31254, f"Cannot do exclusion on field {exclusion[0]} in inclusion projection")
    keys = list(projection)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            if _overlap([p for p in a.split(".") if p != "$"], [p for p in b.split(".") if p != "$"]):
                refuse(31250, f"Path collision at {b if len(b) > len(a) else a}")
    if len(positional) > 1:
        refuse(31276, "Cannot specify more than one positional projection per query.")
    for key in positional:
        prefix = key.split(".")[0]
        if not any(p[0] == prefix for p in _filter_paths(flt)):
            refuse(51246, "Executor error during find command :: caused by :: positional operator '.$' couldn't find a matching element in the array")  # fmt: skip


def sort_pairs(key_or_list: Any, direction: Any = None) -> list[tuple[Any, Any]] | None:
    """PyMongo's `sort(key_or_list, direction)` and `sort=` argument as [(key, direction)]."""
    if key_or_list is None:
        return None
    if isinstance(key_or_list, str):
        return [(key_or_list, 1 if direction is None else direction)]
    if isinstance(key_or_list, Mapping):
        return list(key_or_list.items())
    if isinstance(key_or_list, list | tuple):
        return [
            (item[0], item[1]) if isinstance(item, list | tuple) and len(item) == 2 else (item, 1)
            for item in key_or_list
        ]
    raise TypeError("key_or_list must be an instance of str, list, tuple or mapping")


def check_sort(pairs: list[tuple[Any, Any]] | None, *, stage: bool = False) -> None:
    if pairs is None:
        return
    if stage and not pairs:
        refuse(15976, "$sort stage must have at least one sort key")
    if len(pairs) > MAX_SORT_KEYS:
        refuse(BAD_VALUE, f"cannot have more than {MAX_SORT_KEYS} fields in a sort key")
    seen: set[str] = set()
    for key, direction in pairs:
        if not isinstance(key, str):
            raise TypeError(f"sort key must be an instance of str, not {key!r}")
        if key in seen:
            refuse(BAD_VALUE, f"sort key {key} appears twice")
        seen.add(key)
        if key == "" or "" in key.split("."):
            refuse(15998, "FieldPath field names may not be empty strings.")
        if key.startswith("$"):
            refuse(16410, f"FieldPath field names may not start with '$'. ({key})")
        if isinstance(direction, Mapping):
            if list(direction) != ["$meta"]:
                refuse(15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
            continue
        if (
            isinstance(direction, bool)
            or not _is_number(direction)
            or _as_float(direction) not in (1.0, -1.0)
        ):
            refuse(15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")


# ------------------------------------------------------------------------------------------------------
# aggregation


def check_pipeline(pipeline: Any) -> None:
    if not isinstance(pipeline, list | tuple):
        raise TypeError(f"pipeline must be a list, not {type(pipeline)}")
    last = len(pipeline) - 1
    for index, stage in enumerate(pipeline):
        if not isinstance(stage, Mapping) or len(stage) != 1:
            refuse(40323, "A pipeline stage specification object must contain exactly one field.")
        name, spec = next(iter(stage.items()))
        if name not in STAGES:
            refuse(40324, f"Unrecognized pipeline stage name: '{name}'")
        if name in ("$out", "$merge") and index != last:
            refuse(40601, f"{name} can only be the final stage in the pipeline")
        if name == "$match":
            if not isinstance(spec, Mapping):
                refuse(15959, "the match filter must be an expression in an object")
            check_filter(spec, in_aggregation=True)
            if "$text" in spec and index != 0:
                refuse(17313, "$match with $text is only allowed as the first pipeline stage")
        elif name == "$group":
            _check_group(spec)
        elif name == "$sort":
            if not isinstance(spec, Mapping):
                refuse(15973, "the $sort key specification must be an object")
            check_sort(list(spec.items()), stage=True)
        elif name == "$limit":
            if not _is_number(spec) or _as_float(spec) <= 0 or not _as_float(spec).is_integer():
                refuse(15958, f"the limit must be positive: {spec!r}")
        elif name == "$skip":
            if not _is_number(spec) or _as_float(spec) < 0 or not _as_float(spec).is_integer():
                refuse(15956, f"invalid argument to $skip stage: {spec!r}")
        elif name in ("$project", "$addFields", "$set"):
            _check_projection_stage(name, spec)
        elif name == "$unset":
            items = spec if isinstance(spec, list | tuple) else [spec]
            if not items or not all(isinstance(x, str) and x and not x.startswith("$") for x in items):
                refuse(
                    31002, "$unset specification must be a string or an array containing only string values"
                )
        elif name in ("$replaceRoot", "$replaceWith"):
            if name == "$replaceRoot":
                if not isinstance(spec, Mapping) or "newRoot" not in spec:
                    refuse(40231, "no newRoot specified for the $replaceRoot stage")
                spec = spec["newRoot"]
            check_expression(spec, frozenset())
        elif name == "$unwind":
            path = spec.get("path") if isinstance(spec, Mapping) else spec
            if not isinstance(path, str) or not path.startswith("$") or path.startswith("$$"):
                refuse(28818, "path option to $unwind stage should be prefixed with a '$'")
        elif name == "$count":
            if not isinstance(spec, str) or not spec or spec.startswith("$") or "." in spec:
                refuse(40156, "the count field must be a non-empty string, not starting with '$' nor containing '.'")  # fmt: skip
        elif name == "$lookup":
            _check_lookup(spec)
        elif name == "$facet" and isinstance(spec, Mapping):
            for sub in spec.values():
                check_pipeline(sub)
        elif name == "$unionWith" and isinstance(spec, Mapping) and "pipeline" in spec:
            check_pipeline(spec["pipeline"])


def _check_group(spec: Any) -> None:
    if not isinstance(spec, Mapping):
        refuse(15947, "a group's fields must be specified in an object")
    if "_id" not in spec:
        refuse(15955, "a group specification must include an _id")
    check_expression(spec["_id"], frozenset())
    for field, accumulator in spec.items():
        if field == "_id":
            continue
        if "." in field:
            refuse(40235, f"The field name '{field}' cannot contain '.'")
        if field.startswith("$"):
            refuse(40236, f"The field name '{field}' cannot be an operator name")
        if not isinstance(accumulator, Mapping):
            refuse(40234, f"The field '{field}' must be an accumulator object")
        if len(accumulator) != 1:
            refuse(40238, f"The field '{field}' must specify one accumulator")
        op, arg = next(iter(accumulator.items()))
        if op not in ACCUMULATORS:
            refuse(15952, f"unknown group operator '{op}'")
        check_expression(arg, frozenset())


def _check_projection_stage(name: str, spec: Any) -> None:
    if not isinstance(spec, Mapping):
        refuse(40272, f"{name} specification must be an object")
    if name == "$project" and not spec:
        refuse(51272, "projection specification must have at least one field")
    inclusion: list[str] = []
    exclusion: list[str] = []
    for field, value in spec.items():
        if field.startswith("$"):
            refuse(16410, f"FieldPath field names may not start with '$'. ({field})")
        if field == "" or "" in field.split("."):
            refuse(15998, "FieldPath field names may not be empty strings.")
        if isinstance(value, Mapping) and not value:
            refuse(40180, f"an empty object is not a valid value. Found empty object at path {field}")
        if name == "$project" and (isinstance(value, bool) or _is_number(value)):
            if field != "_id":
                (inclusion if _as_float(value) != 0 else exclusion).append(field)
            continue
        if name == "$project":
            inclusion.append(field)
        _check_nested_spec(value)
    if inclusion and exclusion:
        refuse(31254, f"Cannot do exclusion on field {exclusion[0]} in inclusion projection")


def _check_nested_spec(value: Any) -> None:
    """A `$project` / `$addFields` value: an expression, or an object of nested field specs."""
    if isinstance(value, Mapping) and value and not _is_operator_doc(value):
        for key, sub in value.items():
            if key.startswith("$") or "." in key:
                refuse(16410, f"FieldPath field names may not start with '$' or contain '.': {key}")
            if isinstance(sub, Mapping) and not sub:
                refuse(40180, f"an empty object is not a valid value. Found empty object at path {key}")
            _check_nested_spec(sub)
        return
    check_expression(value, frozenset())


def _check_lookup(spec: Any) -> None:
    if not isinstance(spec, Mapping):
        refuse(FAILED_TO_PARSE, "the $lookup specification must be an Object")
    for key in spec:
        if key not in ("from", "as", "localField", "foreignField", "let", "pipeline"):
            refuse(FAILED_TO_PARSE, f"unknown argument to $lookup: {key}")
    if not isinstance(spec.get("as"), str):
        refuse(FAILED_TO_PARSE, "must specify 'as' field for a $lookup")
    if ("localField" in spec) != ("foreignField" in spec):
        refuse(FAILED_TO_PARSE, "$lookup requires both or neither of 'localField' and 'foreignField'")
    if "localField" not in spec and "pipeline" not in spec:
        refuse(FAILED_TO_PARSE, "$lookup requires either 'pipeline' or both 'localField' and 'foreignField'")
    if "let" in spec and "pipeline" not in spec:
        refuse(FAILED_TO_PARSE, "$lookup with 'let' must also specify 'pipeline'")
    if isinstance(spec.get("pipeline"), list):
        check_pipeline(spec["pipeline"])


def check_expression(expr: Any, variables: frozenset[str], depth: int = 0) -> None:
    """An aggregation expression: known operators, defined variables, valid field paths."""
    if depth > 150:
        return
    if isinstance(expr, str):
        if expr.startswith("$$"):
            name = expr[2:].split(".")[0]
            if name not in SYSTEM_VARIABLES and name not in variables:
                refuse(17276, f"Use of undefined variable: {name}")
        elif expr.startswith("$"):
            parts = expr[1:].split(".")
            if "" in parts:
                refuse(15998, "FieldPath field names may not be empty strings.")
            if any(p.startswith("$") for p in parts):
                refuse(16410, f"FieldPath field names may not start with '$'. ({expr})")
        return
    if isinstance(expr, list | tuple):
        for item in expr:
            check_expression(item, variables, depth + 1)
        return
    if not isinstance(expr, Mapping) or not expr:
        return
    if not _is_operator_doc(expr):
        for key, value in expr.items():  # an object literal: its fields are expressions
            if key.startswith("$") or "." in key:
                refuse(16410, f"FieldPath field names may not start with '$' or contain '.': {key}")
            check_expression(value, variables, depth + 1)
        return
    if len(expr) != 1:
        refuse(15983, f"An object representing an expression must have exactly one field: {expr!r}")
    op, arg = next(iter(expr.items()))
    if op == "$literal":
        return
    if op not in EXPRESSION_OPERATORS:
        refuse(INVALID_PIPELINE_OPERATOR, f"Unrecognized expression '{op}'")
    if op == "$let" and isinstance(arg, Mapping):
        names = arg.get("vars", {})
        if isinstance(names, Mapping):
            for value in names.values():
                check_expression(value, variables, depth + 1)
            variables = variables | set(names)
        check_expression(arg.get("in"), variables, depth + 1)
    elif op in ("$map", "$filter", "$reduce") and isinstance(arg, Mapping):
        inner = variables | ({"this", "value"} if op == "$reduce" else {arg.get("as", "this")})
        for key, value in arg.items():
            check_expression(value, inner if key in ("in", "cond") else variables, depth + 1)
    elif op == "$cond" and isinstance(arg, list | tuple) and len(arg) != 3:
        refuse(16020, f"Expression $cond takes exactly 3 arguments. {len(arg)} were passed in.")
    elif isinstance(arg, Mapping) and not _is_operator_doc(arg):
        for value in arg.values():  # named arguments ($dateAdd, $switch, $cond {if, then, else}...)
            check_expression(value, variables, depth + 1)
    else:
        check_expression(arg, variables, depth + 1)


# ------------------------------------------------------------------------------------------------------
# indexes


def index_keys(keys: Any) -> list[tuple[Any, Any]]:
    """create_index's `keys` (a name, [(name, direction)] or a mapping) as [(name, direction)]."""
    if isinstance(keys, str):
        return [(keys, 1)]
    if isinstance(keys, Mapping):
        return list(keys.items())
    return [(k, 1) if isinstance(k, str) else (k[0], k[1]) for k in keys or ()]


def check_index(keys: list[tuple[Any, Any]], options: Mapping[str, Any]) -> None:
    name = options.get("name")
    if not keys:
        refuse(CANNOT_CREATE_INDEX, "Index keys cannot be empty.")
    for field, direction in keys:
        if not isinstance(field, str) or field == "" or "" in field.split("."):
            refuse(CANNOT_CREATE_INDEX, f"Index keys cannot contain an empty field: {field!r}")
        if field.startswith("$") and not field.endswith("$**"):
            refuse(CANNOT_CREATE_INDEX, f"Index key contains an illegal field name: field name starts with '$': {field}")  # fmt: skip
        if isinstance(direction, bool) or (_is_number(direction) and _as_float(direction) == 0):
            refuse(CANNOT_CREATE_INDEX, f"Values in the index key pattern can't be 0 or false: {field}: {direction!r}")  # fmt: skip
        if isinstance(direction, str) and direction not in INDEX_TYPES:
            refuse(CANNOT_CREATE_INDEX, f"Unknown index plugin '{direction}'")
    for option in options:
        if option not in INDEX_OPTIONS:
            refuse(INVALID_INDEX_SPECIFICATION_OPTION, f"The field '{option}' is not valid for an index specification.")  # fmt: skip
    partial = options.get("partialFilterExpression")
    if options.get("sparse") is not None and partial is not None:
        refuse(CANNOT_CREATE_INDEX, 'cannot mix "partialFilterExpression" and "sparse" options')
    ttl = options.get("expireAfterSeconds")
    if ttl is not None:
        if not _is_number(ttl) or not 0 <= _as_float(ttl) <= MAX_TTL_SECONDS:
            refuse(CANNOT_CREATE_INDEX, f"TTL index 'expireAfterSeconds' option must be within an acceptable range, found {ttl!r}")  # fmt: skip
        if keys[0][0] == "_id":
            refuse(CANNOT_CREATE_INDEX, "The field 'expireAfterSeconds' is not valid for an _id index specification.")  # fmt: skip
    if options.get("unique") and any(direction == "hashed" for _, direction in keys):
        refuse(
            CANNOT_CREATE_INDEX, "Currently hashed indexes cannot guarantee uniqueness. Use a regular index."
        )
    if partial is not None:
        if not isinstance(partial, Mapping):
            refuse(CANNOT_CREATE_INDEX, "'partialFilterExpression' option must be a document")
        check_filter(partial)
        _check_partial_filter(partial, name)


def _check_partial_filter(partial: Mapping[str, Any], name: Any) -> None:
    for key, value in partial.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list | tuple):
                refuse(CANNOT_CREATE_INDEX, f"Error in specification {name}: {key} must be an array")
            for entry in value:
                if isinstance(entry, Mapping):
                    _check_partial_filter(entry, name)
            continue
        if key.startswith("$"):
            refuse(CANNOT_CREATE_INDEX, f"Error in specification {name} :: caused by :: Expression not supported in partial index: {key}")  # fmt: skip
        if isinstance(value, re.Pattern | Regex):
            refuse(CANNOT_CREATE_INDEX, f"Error in specification {name} :: caused by :: Expression not supported in partial index: {key} regex")  # fmt: skip
        if _is_operator_doc(value):
            for op, arg in value.items():
                if op not in PARTIAL_FILTER_OPERATORS:
                    refuse(CANNOT_CREATE_INDEX, f"Error in specification {name} :: caused by :: Expression not supported in partial index: {key} {op}")  # fmt: skip
                if op == "$exists" and not arg:
                    refuse(CANNOT_CREATE_INDEX, f"Error in specification {name} :: caused by :: Expression not supported in partial index: {key} $exists: false")  # fmt: skip


def _index_name(keys: list[tuple[Any, Any]]) -> str:
    """PyMongo's default index name: `field_direction` joined by `_`."""
    return "_".join(f"{field}_{direction}" for field, direction in keys)


def _index_signature(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two indexes the same index for mongod (the name aside)."""
    return (
        tuple((k, _as_float(d) if _is_number(d) else d) for k, d in index_keys(spec["key"])),
        repr(plain(spec.get("collation"))),
        repr(plain(spec.get("partialFilterExpression"))),
    )


_COMPARED_OPTIONS = ("unique", "sparse", "expireAfterSeconds", "hidden")


def check_index_conflicts(existing: Iterable[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> None:
    """createIndexes against what the collection has: same name with other keys or options, or the same
    index under another name (an identical request is a no-op, as on mongod)."""
    have = [(index, _index_signature(index)) for index in existing]
    requested = [(spec, _index_signature(spec)) for spec in new]  # each signature computed once
    for i, (spec, signature) in enumerate(requested):
        for other, other_signature in requested[i + 1 :]:
            if spec.get("name") == other.get("name") or signature == other_signature:
                refuse(INDEX_OPTIONS_CONFLICT, f"Two index specifications in one request conflict: {spec.get('name')} and {other.get('name')}")  # fmt: skip
        for index, index_signature in have:
            same_name = index.get("name") == spec.get("name")
            same_keys = index_signature[0] == signature[0]
            if same_name and not same_keys:
                refuse(INDEX_KEY_SPECS_CONFLICT, f"An existing index has the same name as the requested index but different keys: {spec.get('name')}")  # fmt: skip
            same_index = index_signature == signature
            same_options = all(
                bool(index.get(o)) == bool(spec.get(o))
                if o in ("unique", "sparse", "hidden")
                else index.get(o) == spec.get(o)
                for o in _COMPARED_OPTIONS
            )
            if same_name and not (same_index and same_options):
                refuse(INDEX_OPTIONS_CONFLICT, f"An existing index has the same name as the requested index but different options: {spec.get('name')}")  # fmt: skip
            if same_index and not same_name:
                refuse(
                    INDEX_OPTIONS_CONFLICT, f"Index already exists with a different name: {index.get('name')}"
                )


# ------------------------------------------------------------------------------------------------------
# one call of the adapter, as PyMongo would send it

# PyMongo's positional parameters of each collection method (pymongo.asynchronous.collection).
_POSITIONAL_PARAMETERS: dict[str, tuple[str, ...]] = {
    "find": ("filter", "projection", "skip", "limit"),
    "find_one": ("filter", "projection", "skip", "limit"),
    "count_documents": ("filter",),
    "delete_one": ("filter",),
    "delete_many": ("filter",),
    "distinct": ("key", "filter"),
    "insert_one": ("document",),
    "insert_many": ("documents", "ordered"),
    "update_one": ("filter", "update", "upsert"),
    "update_many": ("filter", "update", "upsert"),
    "replace_one": ("filter", "replacement", "upsert"),
    "find_one_and_update": ("filter", "update", "projection", "sort", "upsert"),
    "find_one_and_replace": ("filter", "replacement", "projection", "sort", "upsert"),
    "find_one_and_delete": ("filter", "projection", "sort"),
    "bulk_write": ("requests", "ordered"),
    "aggregate": ("pipeline",),
    "create_index": ("keys",),
    "create_indexes": ("indexes",),
}
SINGLE_WRITES = frozenset(
    {"insert_one", "update_one", "update_many", "replace_one", "delete_one", "delete_many"}
)
BULK_WRITES = frozenset({"insert_many", "bulk_write"})


def bind(op: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    bound = dict(zip(_POSITIONAL_PARAMETERS.get(op, ()), args, strict=False))
    bound.update(kwargs)
    return bound


def check_call(op: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Raise what PyMongo + mongod 7.0 raise for this collection call; nothing when it is acceptable."""
    key = None if op in _UNCACHED_OPS else _call_shape(op, args, kwargs)
    if key is not None and key in _accepted:
        return
    try:
        _check(op, bind(op, args, kwargs))
    except Refusal as refusal:
        raise as_pymongo_error(op, refusal) from None
    _accept(key)


# ------------------------------------------------------------------------------------------------------
# verdicts by shape: a call shaped like one that passed passes (docs/decisions.md, "Rule verdict cache")
#
# The rules are a pure function of the call's arguments, and no rule reads the value of an ObjectId or a
# datetime (any of them is a valid `_id`, equality operand or document value; each encodes to a fixed
# size; datetimes only with a plain offset and away from years 1 and 9999, where encoding can overflow). A call's shape is its arguments with those two leaves replaced by a marker and every other
# leaf kept exactly, tagged with its type where `==` would mix types (1, 1.0 and True); containers keep
# their kind and order. Equal shapes therefore get equal verdicts. Only acceptances are remembered: a
# refusal is re-derived (and raised) every time. Any other leaf type (Int64, Regex, SON, UUID, models…),
# a deep or a big argument has no shape and is checked in full, as are inserts and replacements, whose
# documents rarely repeat. The hot reads repeat a handful of shapes with different ids and times: the
# caller lookup's 8-field projection alone cost ~90 µs of event-loop CPU per request to re-check.

_OBJECT_ID, _DATETIME, _ID_LIST, _PLAIN_DICT = object(), object(), object(), object()
_EXACT_LEAVES = frozenset({str, int, type(None)})  # kept as they are: `==` never mixes these types
_STR_ONLY = frozenset({str})
_SHAPE_DEPTH = 16
_SHAPE_WIDTH = 256  # a longer list (other than one of ids or of exact leaves) is checked in full
_ACCEPTED_LIMIT = 4096  # distinct shapes remembered; the set starts over when full
_UNCACHED_OPS = frozenset(
    {"insert_one", "insert_many", "bulk_write", "replace_one", "find_one_and_replace", "create_index", "create_indexes"}
)  # fmt: skip
_accepted: set[Any] = set()


class _NoShape(Exception):
    pass


def _call_shape(op: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """The hashable shape of a call, or None when it has none (see above)."""
    try:
        shapes = [arg if type(arg) in _EXACT_LEAVES else _shape_of(arg, 0) for arg in args]
        return (op, len(args), *shapes, _shape_of(kwargs, 0) if kwargs else None)
    except _NoShape:
        return None


def _shape_of(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is dict:
        if set(map(type, value.values())) <= _EXACT_LEAVES and set(map(type, value)) <= _STR_ONLY:
            return (_PLAIN_DICT, *value.items())  # e.g. a projection: one pass in C
        if depth > _SHAPE_DEPTH:
            raise _NoShape
        shape: list[Any] = [dict]
        for key, item in value.items():
            if type(key) is not str:
                raise _NoShape
            shape.append(key)
            shape.append(item if type(item) in _EXACT_LEAVES else _shape_of(item, depth + 1))
        return tuple(shape)
    if kind is list or kind is tuple:
        kinds = set(map(type, value))
        if kinds <= _EXACT_LEAVES:
            return (kind, *value)
        if kinds == {bson.ObjectId}:  # `$in` lists: only their length matters (to the encoded size)
            return (_ID_LIST, kind, len(value))
        if depth > _SHAPE_DEPTH or len(value) > _SHAPE_WIDTH:
            raise _NoShape
        return (kind, *[_shape_of(item, depth + 1) for item in value])
    if kind is bson.ObjectId:
        return _OBJECT_ID
    if kind is datetime:
        # Encodable whatever its value: a plain UTC offset, and no offset can carry it past year 1 or 9999.
        zone = value.tzinfo
        if (zone is None or zone is bson.tz_util.utc or type(zone) is timezone) and 1 < value.year < 9999:
            return _DATETIME
        raise _NoShape
    if kind is float or kind is bool:
        return (kind, value)
    if kind in _EXACT_LEAVES:
        return value
    raise _NoShape


def _accept(key: Any) -> None:
    if key is None:
        return
    if len(_accepted) >= _ACCEPTED_LIMIT:
        _accepted.clear()
    _accepted.add(key)


def as_pymongo_error(op: str, refusal: Refusal) -> OperationFailure:
    code, message = refusal.code, refusal.message
    name = CODE_NAMES.get(code, f"Location{code}")
    if op in SINGLE_WRITES:
        return WriteError(message, code, {"index": 0, "code": code, "codeName": name, "errmsg": message})
    if op in BULK_WRITES:
        error = {"index": 0, "code": code, "codeName": name, "errmsg": message}
        return BulkWriteError(
            {
                "writeErrors": [error],
                "writeConcernErrors": [],
                "nInserted": 0,
                "nUpserted": 0,
                "nMatched": 0,
                "nModified": 0,
                "nRemoved": 0,
                "upserted": [],
            }
        )
    return OperationFailure(message, code, {"ok": 0.0, "errmsg": message, "code": code, "codeName": name})


def _check(op: str, b: Mapping[str, Any]) -> None:
    flt = b.get("filter")
    upsert = bool(b.get("upsert"))
    if op == "insert_one":
        check_document(b.get("document"))
        check_encodable(b.get("document"), "document")
    elif op == "insert_many":
        documents = b.get("documents")
        if not isinstance(documents, Iterable) or isinstance(documents, Mapping | str | bytes):
            raise TypeError("documents must be a non-empty list")
        documents = list(documents)
        if not documents:
            raise TypeError("documents must be a non-empty list")
        for document in documents:
            check_document(document)
            check_encodable(document, "document")
    elif op in ("update_one", "update_many", "find_one_and_update"):
        if b.get("sort") is not None and op != "find_one_and_update":
            refuse(
                40415, f"BSON field 'update.updates.sort' is an unknown field ({op} sort= needs MongoDB 8.0)"
            )
        check_filter(flt, upsert=upsert)
        check_update(b.get("update"), flt=flt, upsert=upsert, array_filters=b.get("array_filters"))
        check_encodable(flt, "filter")
        check_encodable(b.get("update"), "update")
    elif op in ("replace_one", "find_one_and_replace"):
        replacement = b.get("replacement")
        check_filter(flt, upsert=upsert)
        check_document(replacement, replacement=True)
        check_encodable(flt, "filter")
        check_encodable(replacement, "replacement")
    elif op in ("find", "find_one", "count_documents", "delete_one", "delete_many", "find_one_and_delete", "distinct"):  # fmt: skip
        if op == "find_one" and flt is not None and not isinstance(flt, Mapping):
            flt = {"_id": flt}  # PyMongo's find_one(value) looks the value up by _id
        check_filter(flt, in_aggregation=op == "count_documents")
        check_encodable(flt, "filter")
        if op == "distinct" and not isinstance(b.get("key"), str):
            raise TypeError("key must be an instance of str")
        if op == "distinct" and b.get("hint") is not None:
            refuse(40415, "BSON field 'distinct.hint' is an unknown field (needs MongoDB 7.1)")
    if op in ("find", "find_one", "find_one_and_update", "find_one_and_replace", "find_one_and_delete"):
        check_projection(b.get("projection"), flt=flt)
        if b.get("sort") is not None:
            check_sort(sort_pairs(b["sort"]))
    if op in ("find", "find_one"):
        skip, limit = b.get("skip", 0), b.get("limit", 0)
        if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
            raise ValueError("skip must be >= 0") if isinstance(skip, int) else TypeError("skip must be an instance of int")  # fmt: skip
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError("limit must be an instance of int")
    elif op == "aggregate":
        check_pipeline(b.get("pipeline"))
        check_encodable(b.get("pipeline"), "pipeline")
    elif op == "create_index":
        options = {k: v for k, v in b.items() if k != "keys" and k not in COMMAND_OPTIONS}
        options.setdefault("name", _index_name(index_keys(b.get("keys"))))
        check_index(index_keys(b.get("keys")), options)
    elif op == "create_indexes":
        for model in b.get("indexes") or ():
            document = dict(getattr(model, "document", model))
            check_index(index_keys(document["key"]), {k: v for k, v in document.items() if k != "key"})
    elif op == "bulk_write":
        for request in b.get("requests") or ():
            _check_request(request)


def _check_request(request: Any) -> None:
    """One PyMongo request object of `bulk_write` (InsertOne, UpdateOne, ReplaceOne, DeleteOne...)."""
    kind = type(request).__name__
    flt = getattr(request, "_filter", None)
    document = getattr(request, "_doc", None)
    if kind == "InsertOne":
        _check("insert_one", {"document": document})
    elif kind in ("UpdateOne", "UpdateMany"):
        _check("update_one", {"filter": flt, "update": document, "upsert": getattr(request, "_upsert", False), "array_filters": getattr(request, "_array_filters", None)})  # fmt: skip
    elif kind == "ReplaceOne":
        _check("replace_one", {"filter": flt, "replacement": document, "upsert": getattr(request, "_upsert", False)})  # fmt: skip
    elif kind in ("DeleteOne", "DeleteMany"):
        _check("delete_one", {"filter": flt})


# Arguments of create_index that are command options, not index options.
COMMAND_OPTIONS = frozenset({"session", "comment", "commitQuorum", "maxTimeMS"})


def check_find(
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    options: Iterable[tuple[str, tuple[Any, ...], Mapping[str, Any]]],
) -> None:
    """A find cursor as it is read: its arguments and the sort/skip/limit applied to the cursor."""
    options = list(options)
    key = _call_shape("find cursor", (*args, options), kwargs)
    if key is not None and key in _accepted:
        return
    try:
        _check("find", bind("find", args, kwargs))
        for name, option_args, option_kwargs in options:
            if name == "sort":
                check_sort(sort_pairs(*option_args, **option_kwargs))
            elif name in ("skip", "limit"):
                (n,) = option_args
                if isinstance(n, bool) or not isinstance(n, int):
                    raise TypeError(f"{name} must be an instance of int")
                if name == "skip" and n < 0:
                    raise ValueError("skip must be >= 0")
    except Refusal as refusal:
        raise as_pymongo_error("find", refusal) from None
    _accept(key)


def check_index_build(existing: Iterable[Mapping[str, Any]], specs: Sequence[Mapping[str, Any]]) -> None:
    """createIndexes (index documents as PyMongo sends them) against the collection's indexes."""
    try:
        check_index_conflicts(existing, specs)
    except Refusal as refusal:
        raise as_pymongo_error("create_indexes", refusal) from None
