"""Write openapi.json from the app's route table and models, and the route index (`make openapi`).

The index (`chalicelib/route-index.json`) says which domain's routes module serves each path, so the
deployed API imports only that domain on a cold start (see chalicelib/core/routing.py)."""
from __future__ import annotations

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "openapi.json"
ROUTE_INDEX = ROOT / "chalicelib" / "route-index.json"


def render() -> str:
    sys.path.insert(0, str(ROOT))
    from app import app
    from chalicelib.core.openapi import build

    return json.dumps(build(app), indent=2, sort_keys=True) + "\n"


def render_route_index() -> str:
    sys.path.insert(0, str(ROOT))
    from app import app
    from chalicelib.core.routing import index_of

    lines = (f"  {json.dumps(path)}: {json.dumps(modules)}" for path, modules in index_of(app).items())
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main() -> None:
    TARGET.write_text(render())
    ROUTE_INDEX.write_text(render_route_index())
    for written in (TARGET, ROUTE_INDEX):
        print(f"wrote {written.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
