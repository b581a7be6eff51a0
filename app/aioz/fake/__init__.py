"""A faithful local AIOZ Stream: the wire format of docs/aioz.md plus a control API and fault injection."""

from app.aioz.fake.app import IN_PROCESS_BASE_URL, FakeAioz
from app.aioz.fake.auth import FakeAccount
from app.aioz.fake.faults import Fault, FaultKind
from app.aioz.fake.state import FakeControlError

__all__ = ["IN_PROCESS_BASE_URL", "FakeAccount", "FakeAioz", "FakeControlError", "Fault", "FaultKind"]
