"""The reminder outbox: due reminders become FIRED exactly once, observable through the API."""

import asyncio
from datetime import timedelta

from bson import ObjectId

from app.core.timeutils import iso_ms, utcnow
from app.reminders.scheduler import ReminderScheduler
from tests.helpers import auth, create_stream
from tests.streams import API

MS = timedelta(milliseconds=1)


async def remind(client, token, stream, minute):
    response = await client.post(
        f"{API}/{stream['id']}/reminder", json={"minute": minute}, headers=auth(token)
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def statuses(client, token):
    return {
        r["streamId"]: r["status"]
        for r in (await client.get(f"{API}/my-reminders", headers=auth(token))).json()["data"]
    }


async def test_before_start_fires_at_scheduled_for_and_on_start_waits_for_the_start(client, make_user, db):
    _, host = await make_user()
    _, fan = await make_user()
    planned = utcnow() + timedelta(hours=1)
    stream = await create_stream(client, host, plannedStartDate=iso_ms(planned))
    _, other_fan = await make_user()
    before = await remind(client, fan, stream, 15)
    await remind(client, other_fan, stream, None)
    scheduler = ReminderScheduler(db)
    due = planned - timedelta(minutes=15)

    assert await scheduler.run_once(due - MS) == 0
    assert await scheduler.run_once(due) == 1
    fired = (await client.get(f"{API}/my-reminders", headers=auth(fan))).json()["data"][0]
    assert (
        fired["status"] == "FIRED"
        and fired["firedAt"] == iso_ms(due)
        and before["scheduledFor"] == iso_ms(due)
    )
    assert await statuses(client, other_fan) == {stream["id"]: "ARMED_ON_START"}
    assert await scheduler.run_once(planned + timedelta(hours=1)) == 0  # ON_START ignores the clock

    assert (await client.post(f"{API}/{stream['id']}/start", headers=auth(host))).status_code == 200
    # The start itself fires them (follow-up settleReminders); the pass has nothing left to do.
    assert await statuses(client, other_fan) == {stream["id"]: "FIRED"}
    assert await scheduler.run_once(utcnow()) == 0


async def test_an_early_start_fires_before_start_reminders_too(client, make_user, db):
    _, host = await make_user()
    _, fan = await make_user()
    stream = await create_stream(client, host, plannedStartDate=iso_ms(utcnow() + timedelta(days=1)))
    await remind(client, fan, stream, 30)
    assert (await client.post(f"{API}/{stream['id']}/start", headers=auth(host))).status_code == 200
    assert await statuses(client, fan) == {stream["id"]: "FIRED"}
    assert await ReminderScheduler(db).run_once(utcnow()) == 0


async def test_a_start_whose_request_died_fires_its_reminders_from_the_reconcile_loop(client, make_user, db):
    """Issue 12 item 10: firing is driven by the start's follow-up, not by a scan of armed reminders;
    a crash between the start and the firing is resumed by the reconcile loop's follow-up pass."""
    from app.flows import follow_up_runner

    _, host = await make_user()
    _, fan = await make_user()
    stream = await create_stream(client, host, plannedStartDate=iso_ms(utcnow() + timedelta(days=1)))
    await remind(client, fan, stream, None)
    started_at = utcnow() - timedelta(minutes=5)
    # What a start that crashed right after its status write leaves behind.
    await db["live_streams"].update_one(
        {"_id": ObjectId(stream["id"])},
        {
            "$set": {
                "status": "active",
                "startedAt": started_at,
                "followUps": {"settleReminders": started_at},
                "followUpAt": started_at,
            }
        },
    )
    assert await ReminderScheduler(db).run_once(utcnow()) == 0  # the pass never scans ON_START reminders
    assert await statuses(client, fan) == {stream["id"]: "ARMED_ON_START"}
    await follow_up_runner(db).run_due(utcnow())
    assert await statuses(client, fan) == {stream["id"]: "FIRED"}
    doc = await db["live_streams"].find_one({"_id": ObjectId(stream["id"])})
    assert "followUpAt" not in doc


async def test_reminders_of_cancelled_or_deleted_streams_are_cancelled_not_fired(client, make_user, db):
    _, host = await make_user()
    _, fan = await make_user()
    planned = utcnow() + timedelta(hours=1)
    cancelled = await create_stream(client, host, plannedStartDate=iso_ms(planned))
    deleted = await create_stream(client, host, plannedStartDate=iso_ms(planned))
    for stream in (cancelled, deleted):
        await remind(client, fan, stream, 10)
    assert (await client.post(f"{API}/{cancelled['id']}/cancel", headers=auth(host))).status_code == 200
    assert (await client.delete(f"{API}/{deleted['id']}", headers=auth(host))).status_code == 200
    assert await ReminderScheduler(db).run_once(planned) == 0
    assert await statuses(client, fan) == {cancelled["id"]: "CANCELLED", deleted["id"]: "CANCELLED"}


async def test_concurrent_passes_fire_each_reminder_exactly_once(client, make_user, db):
    _, host = await make_user()
    planned = utcnow() + timedelta(hours=1)
    streams = [await create_stream(client, host, plannedStartDate=iso_ms(planned)) for _ in range(3)]
    fans = [await make_user() for _ in range(4)]
    for stream in streams:
        for _, token in fans:
            await remind(client, token, stream, 5)
    now = planned
    passes = await asyncio.gather(*(ReminderScheduler(db).run_once(now) for _ in range(4)))
    assert sum(passes) == 12
    docs = await db["reminders"].find().to_list()
    assert len(docs) == 12 and all(d["status"] == "FIRED" and d["firedAt"] == now for d in docs)
    assert await ReminderScheduler(db).run_once(now + timedelta(minutes=1)) == 0
