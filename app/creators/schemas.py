"""Creator-facing shapes: a user's stats and the most-watched ranking."""

from pydantic import BaseModel, Field

from app.users.schemas import ProfilePhoto


class UserStats(BaseModel):
    followers: int
    following: int
    totalLiveStreams: int


class MostWatchedCreator(BaseModel):
    id: str = Field(alias="_id")
    username: str
    name: str
    surname: str
    availabilityStatus: str
    profilePhoto: ProfilePhoto | None
    expertise: str | None
    isFollowing: bool | None
