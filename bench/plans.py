"""Query plans on a real MongoDB: record what the app sends, then `explain` one command of each shape.

A PyMongo command listener (registered before the app creates its client) keeps the first command of
every distinct shape (command, collection, field names and operators, values reduced to their type)
sent while the benchmark runs. At shutdown each one is explained (`queryPlanner`, nothing executed) and
its winning plan must use an index: some IXSCAN-like stage (or no scan at all) and no COLLSCAN. The embedded engine has no
query planner, so there are no plans to show there.
"""

import json
from dataclasses import asdict, dataclass
from typing import Any

from pymongo import monitoring

EXPLAINABLE = {"find", "aggregate", "count", "distinct", "findAndModify", "update", "delete"}
INDEX_STAGES = ("IXSCAN", "IDHACK", "COUNT_SCAN", "DISTINCT_SCAN")
NO_SCAN_STAGES = {"EOF", "RECORD_STORE_FAST_COUNT"}  # empty collection; count from metadata
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


async def explain_all(db: Any, recorder: CommandRecorder) -> list[Plan]:
    plans = []
    for key, command in recorder.commands.items():
        name = next(iter(command))
        answer = await db.command({"explain": command, "verbosity": "queryPlanner"})
        stages = winning_stages(answer)
        plans.append(
            Plan(name, str(command[name]), _brief(json.loads(key), name), stages, uses_index(stages))
        )
    return sorted(plans, key=lambda p: (p.collection, p.command, p.shape))


def _brief(shape: dict[str, Any], name: str) -> str:
    body = {k: v for k, v in shape.items() if k not in (name, "cursor", "ordered", "new", "upsert")}
    return json.dumps(body, separators=(",", ":"))


def plans_to_json(plans: list[Plan]) -> list[dict[str, Any]]:
    return [asdict(plan) for plan in plans]
