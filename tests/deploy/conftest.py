"""The prod package (`make package STAGE=prod`), built once per test process (tests read it, never change it)."""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Package:
    out: pathlib.Path
    template: dict  # template.json: what CloudFormation is given
    expanded: dict  # expanded.json: the same after the SAM transform

    @property
    def zip(self) -> pathlib.Path:
        return self.out / "deployment.zip"


@pytest.fixture(scope="session")
def packaged(tmp_path_factory) -> Package:
    from tools.package import package

    out = tmp_path_factory.mktemp("dist") / "prod"
    path = package("prod", out)
    return Package(out, json.loads(path.read_text()), json.loads((out / "expanded.json").read_text()))
