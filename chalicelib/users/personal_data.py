"""What the shop holds about a person, gathered for export and removed on erasure.

Each domain that keeps personal data registers an exporter and an eraser (the composition root does,
in `chalicelib/composition.py`), so export and erasure grow with the shop without this module changing.
Records a person's orders and checkouts gave rise to in other domains (returns, refunds, audit
records) are found through those entities: a domain registers what it forgets about a person in an order or a checkout, and the orders'
eraser asks every one of them, entity by entity, before the order leaves the person's index.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Exporter = Callable[[str], Any]
# An eraser removes or anonymises what its domain holds about a user, a page at a time while
# `has_time()` says so, and answers whether it finished. It must be safe to run again: the erasure
# consumer starts over (from what is left) when it runs out of time or a message is delivered twice.
HasTime = Callable[[], bool]
Eraser = Callable[[str, HasTime], bool]
# What a domain forgets about a person in one of their orders or checkouts: (entity id, user id). Idempotent.
EntityEraser = Callable[[str, str], None]

# What stands for an erased person wherever a record keeps what happened without who it was.
ERASED = "erased"

class PersonalData:
    """The registrations of one composition root (`chalicelib/composition.py` makes them, explicitly)."""

    def __init__(self) -> None:
        self.exporters: dict[str, Exporter] = {}
        self.erasers: dict[str, Eraser] = {}
        self.entity_erasers: dict[str, dict[str, EntityEraser]] = {}  # entity type (ORDER, CHECKOUT) -> name -> eraser

    def register_exporter(self, section: str, exporter: Exporter) -> None:
        self.exporters[section] = exporter

    def register_eraser(self, name: str, eraser: Eraser) -> None:
        self.erasers[name] = eraser

    def register_entity_eraser(self, entity_type: str, name: str, eraser: EntityEraser) -> None:
        self.entity_erasers.setdefault(entity_type, {})[name] = eraser

    def export_sections(self, user_id: str) -> dict[str, Any]:
        return {section: exporter(user_id) for section, exporter in self.exporters.items()}

    def erase_everywhere(self, user_id: str, has_time: HasTime) -> bool:
        """Run every eraser in turn; False as soon as one is out of time (what it finished stays done)."""
        for eraser in self.erasers.values():
            if not has_time() or not eraser(user_id, has_time):
                return False
        return True

    def forget_about(self, entity_type: str, entity_id: str, user_id: str) -> None:
        """Every domain's records of `entity_type` `entity_id` (an order, a checkout), rid of `user_id`."""
        for eraser in self.entity_erasers.get(entity_type, {}).values():
            eraser(entity_id, user_id)


def without(value: Any, user_id: str) -> Any:
    """`value` (an item or any part of one) with every string naming `user_id` made to name ERASED instead:
    the id on its own, within a key (`AUDIT#USER#<id>`) or in JSON kept in a string (an event in the outbox)."""
    if isinstance(value, str):
        if not user_id or user_id not in value:
            return value
        return re.sub(rf"(?<![\w@.-]){re.escape(user_id)}(?![\w@.-])", ERASED, value)
    if isinstance(value, dict):
        return {without(k, user_id): without(v, user_id) for k, v in value.items()}
    if isinstance(value, list):
        return [without(v, user_id) for v in value]
    return value


def names(value: Any, user_id: str) -> bool:
    return without(value, user_id) != value
