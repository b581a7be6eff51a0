"""The development demo seed builds streams in every state through the real services."""

from app.main import create_app
from tests.conftest import make_settings


async def test_demo_seed_creates_every_state(tmp_path, capsys):
    app = create_app(make_settings(seed_demo=True, media_dir=str(tmp_path)))
    async with app.router.lifespan_context(app):
        db = app.state.db
        statuses = {doc["status"] async for doc in db["live_streams"].find({"deletedAt": None})}
        assert statuses == {"scheduled", "active", "ended", "cancelled_by_host"}
        assert await db["live_streams"].count_documents({"deletedAt": {"$ne": None}}) == 1
        ended = await db["live_streams"].find_one({"status": "ended"})
        assert ended["recordingUrl"].startswith("https://") and ended["replayCreditPrice"] == 50
        funded = await db["live_streams"].find_one({"fundingGoal": {"$gt": 0}})
        assert funded["collectedFunding"] == 750
        assert await db["participants"].count_documents({"isPresent": True}) == 4
        # Money inside streams: a superlike, a mini crowd-funding and a paid entry, each really paid.
        assert await db["superlikes"].count_documents({"status": "completed"}) == 1
        mini = await db["mini_crowd_fundings"].find_one({})
        assert (mini["status"], mini["collected"]) == ("open", 150)
        paid = await db["live_streams"].find_one({"accessType": "paid"})
        assert (paid["status"], paid["entryRevenue"]) == ("active", 40)
    printed = capsys.readouterr().out
    assert "Demo users" in printed and "viewer" in printed
