"""bench/plans.py's verdicts (issue 12 item 11) on canned `explain` answers of MongoDB 7: no index,
a blocking SORT on a paged query, keysExamined far above nReturned, and the plans that pass."""

from datetime import UTC, datetime
from typing import Any

from app.core.background import LeasedJob
from bench.plans import inspect_plan, pages, run_background_jobs_once


def find_explain(winning: dict[str, Any], keys: int, returned: int) -> dict[str, Any]:
    return {
        "queryPlanner": {"winningPlan": winning, "rejectedPlans": []},
        "executionStats": {"nReturned": returned, "totalKeysExamined": keys, "totalDocsExamined": returned},
        "ok": 1.0,
    }


IXSCAN = {"stage": "IXSCAN", "indexName": "status_started_id", "keyPattern": {"status": 1}}
FETCH_IX = {"stage": "LIMIT", "inputStage": {"stage": "FETCH", "inputStage": IXSCAN}}
SORTED_IN_MEMORY = {"stage": "SORT", "sortPattern": {"startedAt": -1}, "inputStage": {"stage": "FETCH", "inputStage": IXSCAN}}  # fmt: skip
PAGED_FIND = {"find": "live_streams", "filter": {"status": "ACTIVE"}, "sort": {"startedAt": -1}, "limit": 20}


def test_an_indexed_paged_find_passes():
    stages, indexed, keys, returned, problems = inspect_plan(PAGED_FIND, find_explain(FETCH_IX, 20, 20))
    assert indexed and problems == [] and (keys, returned) == (20, 20)
    assert stages == ["LIMIT", "FETCH", "IXSCAN"]


def test_a_collection_scan_fails():
    plan = find_explain({"stage": "COLLSCAN", "direction": "forward"}, 0, 3)
    assert inspect_plan(PAGED_FIND, plan)[4] == ["no index (COLLSCAN)"]


def test_a_blocking_sort_fails_on_a_paged_query_only():
    plan = find_explain(SORTED_IN_MEMORY, 20, 20)
    assert inspect_plan(PAGED_FIND, plan)[4] == ["blocking in-memory SORT on a paged query"]
    unpaged = {k: v for k, v in PAGED_FIND.items() if k != "limit"}
    assert inspect_plan(unpaged, plan)[4] == []


def test_sbe_and_aggregate_explains_are_read_too():
    sbe = {
        "explainVersion": "2",
        "stages": [
            {
                "$cursor": {
                    "queryPlanner": {
                        "winningPlan": {"queryPlan": SORTED_IN_MEMORY, "slotBasedPlan": {"stages": "..."}}
                    },
                    "executionStats": {"nReturned": 5, "totalKeysExamined": 5000},
                }
            },
            {"$group": {"_id": "$liveStreamId"}},
            {"$sort": {"sortKey": {"last": -1}}},
        ],
    }
    pipeline = {"aggregate": "fundings", "pipeline": [{"$match": {"userId": 1}}, {"$sort": {"createdAt": -1}}, {"$limit": 10}]}  # fmt: skip
    _, indexed, keys, returned, problems = inspect_plan(pipeline, sbe)
    assert indexed and (keys, returned) == (5000, 5)
    assert problems == ["blocking in-memory SORT on a paged query", "keysExamined 5000 >> nReturned 5"]


def test_keys_far_above_results_fail_but_small_or_counting_scans_do_not():
    assert inspect_plan(PAGED_FIND, find_explain(FETCH_IX, 4000, 20))[4] == [
        "keysExamined 4000 >> nReturned 20"
    ]
    assert inspect_plan(PAGED_FIND, find_explain(FETCH_IX, 90, 1))[4] == []  # below the slack
    count = {"count": "participants", "query": {"liveStreamId": 1, "present": True}}
    assert (
        inspect_plan(count, find_explain({"stage": "COUNT", "inputStage": {"stage": "COUNT_SCAN"}}, 9000, 0))[
            4
        ]
        == []
    )


def test_paging_is_recognised_in_finds_and_pipelines():
    assert pages(PAGED_FIND) and pages({"find": "x", "skip": 40})
    assert not pages({"find": "x", "limit": 0}) and not pages({"find": "x"})
    assert pages({"aggregate": "x", "pipeline": [{"$match": {}}, {"$skip": 20}, {"$limit": 20}]})


async def test_each_background_job_runs_once():
    ran: list[str] = []

    def job(name: str) -> Any:
        async def run(now: datetime) -> None:
            ran.append(name)

        return run

    jobs = [LeasedJob(name, 10, job(name)) for name in ("reconcile", "reminders", "replay-settlement")]
    await run_background_jobs_once(jobs, lambda: datetime(2026, 1, 1, tzinfo=UTC))
    assert ran == ["reconcile", "reminders", "replay-settlement"]


async def test_the_apps_background_jobs_all_run_a_pass_on_an_empty_database(app):
    from app.core.timeutils import utcnow
    from app.main import background_jobs

    jobs = background_jobs(app, app.state.settings.model_copy(update={"ranking_max_age_seconds": 60}))
    assert {"reconcile", "reminders", "replay-settlement", "rankings"} <= {job.name for job in jobs}
    await run_background_jobs_once(jobs, utcnow)
