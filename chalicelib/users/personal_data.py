"""What the shop holds about a person, gathered for export and removed on erasure.

Each domain that keeps personal data registers an exporter and an eraser here, so export
and erasure grow with the shop without this module changing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

Exporter = Callable[[str], Any]
# An eraser removes or anonymises what its domain holds about a user, a page at a time while
# `has_time()` says so, and answers whether it finished. It must be safe to run again: the erasure
# consumer starts over (from what is left) when it runs out of time or a message is delivered twice.
HasTime = Callable[[], bool]
Eraser = Callable[[str, HasTime], bool]

_exporters: dict[str, Exporter] = {}
_erasers: dict[str, Eraser] = {}


def register_exporter(section: str, exporter: Exporter) -> None:
    _exporters[section] = exporter


def register_eraser(name: str, eraser: Eraser) -> None:
    _erasers[name] = eraser


def export_sections(user_id: str) -> dict[str, Any]:
    return {section: exporter(user_id) for section, exporter in _exporters.items()}


def erase_everywhere(user_id: str, has_time: HasTime) -> bool:
    """Run every eraser in turn; False as soon as one is out of time (what it finished stays done)."""
    for eraser in _erasers.values():
        if not has_time() or not eraser(user_id, has_time):
            return False
    return True
