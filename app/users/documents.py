"""The stored shape of a user (`users` collection), as every module that reads one sees it.

`total=False`: callers are loaded with `CALLER_FIELDS` and summaries with `SUMMARY_FIELDS`, so a
document holds only the fields its read projected.
"""

from datetime import datetime
from typing import Any, TypedDict

from bson import ObjectId


class UserDocument(TypedDict, total=False):
    _id: ObjectId
    username: str
    usernameLower: str
    name: str
    surname: str
    profilePhoto: str | None
    availabilityStatus: str
    expertise: str | None
    interests: list[str]
    credits: int  # changes only through ledger decisions (app.users.credits)
    opVersion: int
    opInFlight: dict[str, Any]
    opInFlightAt: datetime
    createdAt: datetime
    updatedAt: datetime
    deletedAt: datetime | None
