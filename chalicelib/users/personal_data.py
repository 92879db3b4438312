"""What the shop holds about a person, gathered for export and removed on erasure.

Each domain that keeps personal data registers an exporter and an eraser here, so export
and erasure grow with the shop without this module changing.
"""
from __future__ import annotations

from typing import Any, Callable

Exporter = Callable[[str], Any]
Eraser = Callable[[str], None]

_exporters: dict[str, Exporter] = {}
_erasers: dict[str, Eraser] = {}


def register_exporter(section: str, exporter: Exporter) -> None:
    _exporters[section] = exporter


def register_eraser(name: str, eraser: Eraser) -> None:
    _erasers[name] = eraser


def export_sections(user_id: str) -> dict[str, Any]:
    return {section: exporter(user_id) for section, exporter in _exporters.items()}


def erase_everywhere(user_id: str) -> None:
    for eraser in _erasers.values():
        eraser(user_id)
