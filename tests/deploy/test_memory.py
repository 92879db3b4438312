"""Each function's memory is its own, chosen from measured peak RSS (tools/bench_memory.py, docs/decisions.md)."""
from __future__ import annotations

import json
import pathlib

import pytest

from tools.bench_memory import FUNCTIONS, configured_memory
from tools.merge_template import FUNCTIONS as LOGICAL

CONFIG = json.loads((pathlib.Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text())
MEASURED_PEAK_MIB = 76  # the largest peak RSS `make bench` measured (payment_provider, Stripe's library), 2026-12-07


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_deployed_function_has_its_own_memory_with_headroom_over_the_measured_peak(stage):
    functions = CONFIG["stages"][stage]["lambda_functions"]
    for function in FUNCTIONS:
        assert functions[function]["lambda_memory_size"] >= 3 * MEASURED_PEAK_MIB, function
    # The latency-critical API gets the most memory: on arm64 its CPU share grows with it.
    assert configured_memory("api_handler", stage) == max(configured_memory(f, stage) for f in FUNCTIONS)


def test_the_prod_template_carries_the_chosen_memory(packaged):
    resources = packaged.template["Resources"]
    chosen = {logical: resources[logical]["Properties"]["MemorySize"] for logical in LOGICAL}
    assert chosen == {logical: configured_memory(name) for logical, (name, _) in LOGICAL.items()}
