"""Reading events out of queue messages: EventBridge delivers its whole event as the SQS body."""
from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from chalicelib.core.events import Envelope


class PoisonMessage(ValueError):
    """A message that no retry can make valid: report it so it ends in the dead-letter queue."""


def envelope_of(body: str | dict[str, Any]) -> Envelope:
    """The envelope in an SQS body: either an EventBridge event (envelope in `detail`) or the envelope."""
    try:
        data = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        raise PoisonMessage("body is not JSON") from None
    if isinstance(data, dict) and isinstance(data.get("detail"), dict):
        data = data["detail"]
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        raise PoisonMessage(f"not an event envelope: {exc.error_count()} error(s)") from None
