"""Write openapi.json from the app's route table and models (`make openapi`)."""
from __future__ import annotations

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "openapi.json"


def render() -> str:
    sys.path.insert(0, str(ROOT))
    from app import app
    from chalicelib.core.openapi import build

    return json.dumps(build(app), indent=2, sort_keys=True) + "\n"


def main() -> None:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
