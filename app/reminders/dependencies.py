"""Typed dependencies of the reminder endpoints."""

from typing import Annotated

from fastapi import Depends

from app.core.db import Db
from app.reminders.service import ReminderService


async def get_reminder_service(db: Db) -> ReminderService:
    return ReminderService(db)


Reminders = Annotated[ReminderService, Depends(get_reminder_service)]
