"""Money collections pin w:"majority", majority reads and the primary whatever the URL says (issue 12
item 5); other collections keep the URL's settings."""

import pytest
from pymongo import AsyncMongoClient, ReadPreference

from app.core.embedded import EmbeddedAsyncClient
from app.live_streams.funding_repository import FundingRepository
from app.replays.repository import ReplayRentalRepository
from app.repositories import REPOSITORIES
from app.users.credits import CreditTransactionRepository
from app.users.repository import FollowRepository, UserRepository

MONEY = (UserRepository, CreditTransactionRepository, FundingRepository, ReplayRentalRepository)
# A URL asking for everything the money collections must not get.
LAX_URL = "mongodb://127.0.0.1:1/?w=1&readPreference=secondaryPreferred&readConcernLevel=local"


@pytest.fixture(params=["mongodb", "embedded"])
def database(request):
    if request.param == "mongodb":
        return AsyncMongoClient(LAX_URL, connect=False)["durability"]  # no server needed to inspect
    return EmbeddedAsyncClient()["durability"]


@pytest.mark.parametrize("repository", MONEY, ids=lambda r: r.collection_name)
def test_money_collections_are_durable_whatever_the_url_says(database, repository):
    collection = repository(database).collection
    assert collection.write_concern.document["w"] == "majority"
    assert collection.write_concern.document["wtimeout"] > 0
    assert collection.read_concern.level == "majority"
    assert collection.read_preference == ReadPreference.PRIMARY


def test_other_collections_keep_the_urls_settings():
    collection = FollowRepository(AsyncMongoClient(LAX_URL, connect=False)["durability"]).collection
    assert collection.write_concern.document == {"w": 1}
    assert collection.read_preference == ReadPreference.SECONDARY_PREFERRED


def test_every_money_repository_is_listed_and_durable():
    durable = {r.collection_name for r in REPOSITORIES if r.durable}
    assert {r.collection_name for r in MONEY} <= durable
