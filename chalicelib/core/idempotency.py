"""Requests repeated under one Idempotency-Key: the same key and body answer what the first one did; the same
key with another body is refused (422), never taken for a new request."""
from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from chalicelib.core.errors import ValidationFailed

Answer = TypeVar("Answer")


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def request_hash(request: Any) -> str:
    """What identifies a request's body (a model) whatever the order or spacing of its JSON."""
    return hashlib.sha256(canonical_json(request.model_dump(mode="json")).encode()).hexdigest()


def answered_before(first: Answer | None, first_hash: str | None, this_hash: str) -> Answer | None:
    """What the first request under this key answered (`first`, None if there was none), if it had this body;
    422 IDEMPOTENCY_KEY_REUSED if it had another."""
    if first is None:
        return None
    if first_hash != this_hash:
        raise ValidationFailed("This request key was used already, for a different request.",
                               code="IDEMPOTENCY_KEY_REUSED")
    return first
