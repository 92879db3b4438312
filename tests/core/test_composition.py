"""The composition root: the one place services are built, each once, with what it depends on."""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSITION = ROOT / "chalicelib" / "composition.py"


def _service_classes() -> list[type]:
    """Every class the root builds (read from its source: each part is declared `built("module.Class", ...)`)."""
    found = []
    for node in ast.walk(ast.parse(COMPOSITION.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "built":
            module, _, name = node.args[0].value.rpartition(".")
            found.append(getattr(importlib.import_module(module), name))
    return found


def test_no_service_or_repository_fills_in_its_own_dependencies():
    built = _service_classes()
    assert len([cls for cls in built if cls.__name__.endswith("Service")]) == 16
    defaulted = [f"{cls.__name__}.{name}" for cls in built
                 for name, parameter in inspect.signature(cls.__init__).parameters.items()
                 if parameter.default is not inspect.Parameter.empty]
    assert defaulted == []


def test_only_the_root_builds_services():
    """A service made anywhere else would be a second, differently wired one (tests build their own)."""
    services = {cls.__name__ for cls in _service_classes() if cls.__name__.endswith("Service")}
    sources = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    made = [f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}()" for path in sources if path != COMPOSITION
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in services]
    assert made == []


def test_the_root_builds_each_service_once_and_shares_what_services_share():
    from chalicelib.composition import Services

    root = Services()
    assert root.orders is root.orders
    assert root.payments.orders is root.orders and root.payments.refunds is root.refunds
    assert root.returns.refunds is root.refunds and root.refunds.orders is root.order_records
    assert root.users.personal_data is root.orders.personal_data is root.personal_data
    assert Services().orders is not root.orders  # a test's own root shares nothing with the app's


def test_a_root_builds_only_what_is_asked_of_it():
    from chalicelib.composition import Services

    root = Services()
    assert root.catalogue is not None
    assert set(vars(root)) == {"catalogue", "products"}


def test_personal_data_is_registered_by_the_root_not_by_importing_modules():
    import app  # noqa: F401  (the app and every module it imports register nothing)
    from chalicelib.composition import Services
    from chalicelib.users.personal_data import PersonalData

    assert (PersonalData().exporters, PersonalData().erasers, PersonalData().entity_erasers) == ({}, {}, {})
    registry = Services().personal_data
    assert set(registry.exporters) == {"orders", "notifications"}
    assert set(registry.erasers) == {"orders", "notifications", "basket", "audit"}
    assert {entity: set(names) for entity, names in registry.entity_erasers.items()} == {
        "ORDER": {"returns", "refunds", "audit"}, "CHECKOUT": {"audit"}}


def test_a_cold_start_builds_only_the_domain_its_first_request_needs():
    """The catalogue's first request imports no other domain's service (a cold start pays for one domain)."""
    probe = ("import json, sys; import app, chalicelib.catalogue.routes; from chalicelib.composition import services; "
             "services().catalogue; "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('chalicelib.') and "
             "not m.startswith('chalicelib.core.') and "
             "m.rsplit('.', 1)[1] in ('service', 'checkout', 'refunds', 'auth', 'images'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(loaded.stdout) == ["chalicelib.catalogue.service"]
