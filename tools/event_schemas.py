"""Write the JSON schema of every event type to docs/events/ (`make schemas`)."""
from __future__ import annotations

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "events"


def render() -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from chalicelib.core.events import event_json_schema, load_event_types

    return {f"{name}.schema.json": json.dumps(event_json_schema(name), indent=2, sort_keys=True) + "\n"
            for name in sorted(load_event_types())}


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    files = render()
    for stale in TARGET.glob("*.schema.json"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (TARGET / name).write_text(text)
    print(f"wrote {len(files)} event schemas to {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
