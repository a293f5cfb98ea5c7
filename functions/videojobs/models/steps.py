"""What the workflow's Lambda steps hand back to the state machine."""

from __future__ import annotations

from pydantic import BaseModel


class StepOutcome(BaseModel):
    """What the submit and check steps hand back to the state machine."""

    outcome: str
    provider_status: str
    wait_seconds: int = 0
    interval_seconds: int
