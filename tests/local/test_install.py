"""The install step of `make run` and `make test` (the Makefile's $(VENV)/.installed), on a new virtualenv and
again after a requirement changes, prints no dependency conflict: pip is resolved with chalice, which declares
the versions of pip it works with, instead of being upgraded past them first."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _requirement(name: str) -> str:
    """The line of requirements-dev.txt that names `name`."""
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-") and Requirement(line).name == name:
            return line
    raise LookupError(name)


def test_installing_a_new_virtualenv_and_installing_again_print_no_dependency_conflict(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "requirements.txt").write_text("")
    # what resolves pip: chalice, which declares it, and the project's own line for pip
    (tmp_path / "requirements-dev.txt").write_text(f"{_requirement('chalice')}\n{_requirement('pip')}\n")

    def install() -> str:
        result = subprocess.run(["make", f"PYTHON={sys.executable}", ".venv/.installed"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    first = install()
    os.utime(tmp_path / ".venv" / ".installed", (0, 0))  # a requirement changed since: the same venv installs again
    again = install()
    for output in (first, again):
        assert "dependency conflicts" not in output and "incompatible" not in output, output
    python = tmp_path / ".venv" / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True,
                               check=True).stdout.split()[1]
    declared = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(next(r for r in "
                               "m.requires('chalice') if r.startswith('pip')))"], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert Version(installed) in Requirement(declared).specifier, (installed, declared)
    assert subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, check=False).returncode == 0
