"""Typed dependencies of the reminder endpoints (services `shared` per database handle)."""

from typing import Annotated

from fastapi import Depends
from starlette.datastructures import State

from app.core.dependencies import shared
from app.reminders.service import ReminderService


def _reminders(state: State) -> ReminderService:
    return ReminderService(state.db)


Reminders = Annotated[ReminderService, Depends(shared(_reminders))]
