"""Query plans on a real MongoDB: record what the app sends, then `explain` one command of each shape.

A PyMongo command listener (registered before the app creates its client) keeps the first command of
every distinct shape (command, collection, field names and operators, values reduced to their type)
sent while the benchmark runs, one pass of every background job included (`run_background_jobs_once`).
At shutdown each one is explained with `executionStats` (reads are executed, writes are not applied) and
`problems` lists what makes it fail the benchmark:

* no index: the winning plan has a COLLSCAN or no IXSCAN-like stage (and is not an empty/metadata scan);
* a blocking in-memory SORT (a `SORT` stage in the winning plan, classic or SBE) in a query that pages
  (`limit`/`skip`, or `$limit`/`$skip` in a pipeline);
* keysExamined far above nReturned: more than `KEYS_PER_RESULT` index keys read per document returned
  (and more than `KEYS_SLACK` in total; counts aside), i.e. an index that does not match the filter + sort.

The embedded engine has no query planner, so there are no plans to show there.
"""

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pymongo import monitoring

EXPLAINABLE = {"find", "aggregate", "count", "distinct", "findAndModify", "update", "delete"}
INDEX_STAGES = ("IXSCAN", "IDHACK", "COUNT_SCAN", "DISTINCT_SCAN")
NO_SCAN_STAGES = {"EOF", "RECORD_STORE_FAST_COUNT"}  # empty collection; count from metadata
SORT_STAGES = {"SORT"}  # a blocking in-memory sort (SORT_MERGE merges index-ordered inputs)
KEYS_PER_RESULT = 10  # index keys read per document returned beyond which the index does not fit
KEYS_SLACK = 100  # below this many keys, any ratio is cheap
SESSION_FIELDS = {
    "lsid", "$db", "$clusterTime", "txnNumber", "$readPreference", "readConcern", "writeConcern",
    "autocommit", "startTransaction", "apiVersion", "apiStrict", "apiDeprecationErrors", "comment",
}  # fmt: skip


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):  # documents (pipeline stages) each; scalars ($in values) as one
        if any(isinstance(item, dict | list | tuple) for item in value):
            return [_shape(item) for item in value]
        return [_shape(value[0])] if value else []
    return type(value).__name__


class CommandRecorder(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: dict[str, dict[str, Any]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in EXPLAINABLE:
            return
        command = {k: v for k, v in event.command.items() if k not in SESSION_FIELDS}
        key = json.dumps(_shape(command), sort_keys=True)
        self.commands.setdefault(key, command)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


def record_commands() -> CommandRecorder:
    """Register a recorder for every client created from now on (call before the app starts)."""
    recorder = CommandRecorder()
    monitoring.register(recorder)
    return recorder


@dataclass(frozen=True)
class Plan:
    command: str
    collection: str
    shape: str
    stages: list[str]
    uses_index: bool
    keys_examined: int = 0
    n_returned: int = 0
    problems: list[str] = field(default_factory=list)


def winning_stages(explain: Any) -> list[str]:
    """Every stage name under any `winningPlan` in an explain answer (find, aggregate, classic or SBE)."""
    stages: list[str] = []

    def walk(node: Any, inside: bool) -> None:
        if isinstance(node, dict):
            if inside and isinstance(node.get("stage"), str):
                stages.append(node["stage"])
            for key, child in node.items():
                walk(child, inside or key == "winningPlan")
        elif isinstance(node, list):
            for child in node:
                walk(child, inside)

    walk(explain, False)
    return stages


def uses_index(stages: list[str]) -> bool:
    if "COLLSCAN" in stages or not stages:
        return False
    return any(marker in stage for stage in stages for marker in INDEX_STAGES) or bool(
        NO_SCAN_STAGES & set(stages)
    )


def pages(command: dict[str, Any]) -> bool:
    """The command reads one page: a find/aggregate with a limit or skip (then its sort must be indexed)."""
    if "limit" in command or "skip" in command:
        return bool(command.get("limit") or command.get("skip"))
    return any(
        isinstance(stage, dict) and ("$limit" in stage or "$skip" in stage)
        for stage in command.get("pipeline", [])
    )


def execution_counts(explain: Any) -> tuple[int, int]:
    """(totalKeysExamined, nReturned) of an `executionStats` explain (find, or aggregate's cursor stage)."""
    keys = returned = 0

    def walk(node: Any) -> None:
        nonlocal keys, returned
        if isinstance(node, dict):
            stats = node.get("executionStats")
            if isinstance(stats, dict) and "totalKeysExamined" in stats:
                keys += int(stats.get("totalKeysExamined", 0))
                returned += int(stats.get("nReturned", 0))
                return
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(explain)
    return keys, returned


def inspect_plan(command: dict[str, Any], explain: Any) -> tuple[list[str], bool, int, int, list[str]]:
    """(stages, uses index, keysExamined, nReturned, problems) of one explained command."""
    # A `$sort` right after `$match` is pushed into the query layer (a SORT stage in the winning plan
    # when no index provides the order); pipeline-level `$sort`s after `$group` sort computed rows.
    stages = winning_stages(explain)
    indexed = uses_index(stages)
    keys, returned = execution_counts(explain)
    problems = []
    if not indexed:
        problems.append("no index (COLLSCAN)" if "COLLSCAN" in stages else "no index")
    if pages(command) and SORT_STAGES & set(stages):
        problems.append("blocking in-memory SORT on a paged query")
    counting = next(iter(command)) in {"count", "distinct"} or "COUNT_SCAN" in stages  # keys are the work
    if not counting and keys > KEYS_SLACK and keys > KEYS_PER_RESULT * max(returned, 1):
        problems.append(f"keysExamined {keys} >> nReturned {returned}")
    return stages, indexed, keys, returned, problems


async def explain_all(db: Any, recorder: CommandRecorder) -> list[Plan]:
    plans = []
    for key, command in recorder.commands.items():
        name = next(iter(command))
        answer = await db.command({"explain": command, "verbosity": "executionStats"})
        stages, indexed, keys, returned, problems = inspect_plan(command, answer)
        brief = _brief(json.loads(key), name)
        plans.append(Plan(name, str(command[name]), brief, stages, indexed, keys, returned, problems))
    return sorted(plans, key=lambda p: (p.collection, p.command, p.shape))


async def run_background_jobs_once(jobs: Iterable[Any], now: Callable[[], datetime]) -> None:
    """One pass of every background job (`app.main.background_jobs`), so their queries get explained too."""
    for job in jobs:
        run: Callable[[datetime], Awaitable[Any]] = job.run
        await run(now())


def _brief(shape: dict[str, Any], name: str) -> str:
    body = {k: v for k, v in shape.items() if k not in (name, "cursor", "ordered", "new", "upsert")}
    return json.dumps(body, separators=(",", ":"))


def plans_to_json(plans: list[Plan]) -> list[dict[str, Any]]:
    return [asdict(plan) for plan in plans]
