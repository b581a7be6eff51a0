"""Money waits for the unique indexes its exactly-once rests on (issue 22, defect 3): while one is missing
`/ready` answers 503 naming it and money writes answer 503 with nothing written; a failed required build
is logged as an error and counted in a metric."""

from datetime import UTC, datetime

import pytest
from bson import ObjectId
from prometheus_client import REGISTRY
from pymongo.operations import IndexModel

from app.core import required_indexes
from app.core.errors import DatabaseUnavailable
from app.core.migrations import migrate_indexes
from app.main import background_jobs
from app.repositories import REPOSITORIES
from tests.helpers import auth, create_stream, iso_in
from tests.streams import API, started_stream

MISSING = "money is paused until these unique indexes are ready: credit_transactions.idempotency"


@pytest.fixture(autouse=True)
def look_again_at_once(monkeypatch):
    """Every request looks at the indexes again (the app re-lists them every few seconds)."""
    monkeypatch.setattr(required_indexes, "RECHECK_WHILE_MISSING_SECONDS", 0.0)
    monkeypatch.setattr(required_indexes, "RECHECK_WHILE_READY_SECONDS", 0.0)


async def credits_of(db, user) -> int:
    return (await db["users"].find_one({"_id": ObjectId(user["_id"])}))["credits"]


async def everything_money_wrote(db) -> dict[str, int]:
    names = ["credit_transactions", "superlikes", "fundings", "replay_rentals", "stream_entries"]
    return {name: await db[name].count_documents({}) for name in names}


async def test_ready_answers_503_naming_a_missing_required_index_and_200_once_it_is_back(client, db):
    assert (await client.get("/ready")).status_code == 200
    await db["credit_transactions"].drop_index("idempotency")
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["errors"] == ["Service unavailable", MISSING]
    await migrate_indexes(db, REPOSITORIES)  # the build ends
    assert (await client.get("/ready")).status_code == 200


async def test_money_writes_answer_503_and_write_nothing_while_an_index_is_missing(client, make_user, db):
    creator, host = await make_user()
    fan, token = await make_user(credits=300)
    live = await started_stream(client, host)
    scheduled = await create_stream(client, host, plannedStartDate=iso_in(hours=4), fundingGoal=1000)
    before = await everything_money_wrote(db)
    await db["credit_transactions"].drop_index("idempotency")  # e.g. a build that failed on duplicates

    key = {"Idempotency-Key": "retry-me"}
    superlike = await client.post(f"{API}/{live['id']}/chat/superlike", headers={**auth(token), **key})
    fund = await client.post(
        f"{API}/{scheduled['id']}/fund", json={"amount": 100}, headers={**auth(token), **key}
    )
    for response in (superlike, fund):
        assert response.status_code == 503, response.text
        assert response.json()["errors"] == ["Service unavailable", MISSING]
        assert response.headers["Retry-After"] == "5"
    assert await everything_money_wrote(db) == before  # nothing written
    assert await credits_of(db, fan) == 300 and await credits_of(db, creator) == 0

    await migrate_indexes(db, REPOSITORIES)
    again = await client.post(f"{API}/{live['id']}/chat/superlike", headers={**auth(token), **key})
    assert again.status_code == 200, again.text
    assert await credits_of(db, fan) == 290


async def test_reads_and_other_writes_go_on_while_money_waits(client, make_user, db):
    _, host = await make_user()
    await db["credit_transactions"].drop_index("idempotency")
    assert (await client.get(f"{API}/featured")).status_code == 200
    assert (await create_stream(client, host))["id"]


def failures(index: str, required: str) -> float:
    value = REGISTRY.get_sample_value("index_build_failures_total", {"index": index, "required": required})
    return value or 0.0


def logged(caplog, event: str) -> list:
    return [r for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == event]


async def test_a_failed_required_build_is_logged_as_an_error_and_counted(db, caplog):
    await db["credit_transactions"].drop_index("idempotency")
    duplicate = {"userId": ObjectId(), "idempotencyKey": "twice"}
    await db["credit_transactions"].insert_many([dict(duplicate), dict(duplicate)])
    await db["chat_messages"].create_index([("legacy", 1)], unique=True, name="legacy")
    before = failures("credit_transactions.idempotency", "true")

    report = await migrate_indexes(db, REPOSITORIES)
    assert [f"{p.collection}.{p.name}" for p in report.failed] == ["credit_transactions.idempotency"]
    assert failures("credit_transactions.idempotency", "true") == before + 1
    [error] = logged(caplog, "required_index_build_failed")
    assert error.levelname == "ERROR" and error.msg["index"] == "credit_transactions.idempotency"


async def test_a_failed_optional_build_is_counted_but_not_required(db, caplog):
    class Optional:
        collection_name = "chat_messages"
        indexes = [IndexModel([("text", 1)], unique=True, name="optional_unique")]

    await db["chat_messages"].insert_many([{"text": "a"}, {"text": "a"}])
    before = failures("chat_messages.optional_unique", "false")
    await migrate_indexes(db, [Optional])
    assert failures("chat_messages.optional_unique", "false") == before + 1
    assert logged(caplog, "index_build_failed") and not logged(caplog, "required_index_build_failed")


def test_every_money_collection_requires_its_unique_index():
    required = {
        f"{repository.collection_name}.{name}"
        for repository in REPOSITORIES
        for name in repository.required_indexes
    }
    assert required == {
        "credit_transactions.idempotency",
        "fundings.idempotency",
        "stream_entries.idempotency",
        "mini_crowd_funding_contributions.idempotency",
        "superlikes.idempotency",
        "replay_rentals.rental_unique",
    }


async def test_money_passes_wait_for_the_indexes_and_others_go_on(app, db):
    jobs = {job.name: job for job in background_jobs(app, app.state.settings)}
    await db["replay_rentals"].drop_index("rental_unique")
    for name in ("reconcile", "replay-settlement"):
        with pytest.raises(DatabaseUnavailable, match=r"replay_rentals\.rental_unique"):
            await jobs[name].run(datetime.now(UTC))
    await jobs["reminders"].run(datetime.now(UTC))  # moves no money
    await migrate_indexes(db, REPOSITORIES)
    await jobs["replay-settlement"].run(datetime.now(UTC))
