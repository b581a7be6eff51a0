"""The request's notion of "now" as a dependency, so tests can pin it (`dependency_overrides`)."""

from datetime import datetime
from typing import Annotated

from fastapi import Depends

from app.core.timeutils import utcnow


async def request_time() -> datetime:
    return utcnow()


Now = Annotated[datetime, Depends(request_time)]
