"""Vendor the pinned subset of `swagger-ui-dist` the docs page serves (`python -m tools.swagger_ui`).

Only what the page loads (the bundle and its stylesheet) and the licence files are kept; source
maps, the standalone preset and the ES builds would add megabytes to every Lambda package. To
upgrade: set VERSION and INTEGRITY from `npm view swagger-ui-dist@<version> dist.integrity`, run
this, look at the page, commit.
"""
from __future__ import annotations

import base64
import hashlib
import pathlib
import subprocess
import tarfile
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "chalicelib" / "api" / "swagger_ui"
VERSION = "5.35.0"
INTEGRITY = "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt")


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(["npm", "pack", "--silent", f"swagger-ui-dist@{VERSION}", "--pack-destination", work],
                       check=True, stdout=subprocess.DEVNULL)
        tarball = pathlib.Path(work) / f"swagger-ui-dist-{VERSION}.tgz"
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if digest != INTEGRITY:
            raise SystemExit(f"swagger-ui-dist {VERSION}: integrity {digest} is not the pinned {INTEGRITY}")
        TARGET.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as archive:
            for name in FILES:
                (TARGET / name).write_bytes(archive.extractfile(f"package/{name}").read())
    (TARGET / "VERSION").write_text(VERSION + "\n")
    print(f"wrote swagger-ui-dist {VERSION} ({', '.join(FILES)}) to {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
