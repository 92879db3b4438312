"""Module boundaries, read from the source: no module reaches into another's private names."""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sources() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of attributes on a name; None for anything else (a call, a subscript)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def private_reaches(source: str, where: str) -> list[str]:
    """Each place `source` imports another module's private name, or reads one through a name it imported:
    `from x import _name`, `import x` then `x._name`, `from x import Thing` then `Thing._name`."""
    tree = ast.parse(source)
    imported: set[str] = set()  # the names an import binds in this module (at any depth: lazy imports too)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if _private(alias.name):
                    module = "." * node.level + (node.module or "")
                    found.append((node.lineno, f"{where}:{node.lineno} from {module} import {alias.name}"))
                imported.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imported.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = _dotted(node.value)
            if owner is not None and owner.split(".")[0] in imported:
                found.append((node.lineno, f"{where}:{node.lineno} {owner}.{node.attr}"))
    return [reach for _line, reach in sorted(found)]


def test_no_module_imports_or_reads_another_modules_private_names():
    found = [reach for path in _sources()
             for reach in private_reaches(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == []


def test_the_boundary_check_sees_each_way_of_reaching_in():
    source = textwrap.dedent("""
        import chalicelib.payments.service
        from chalicelib.payments import service as payments
        from chalicelib.payments.service import _ack, PaymentService
        def lazily():
            from chalicelib.users import personal_data
            return personal_data._exporters
        a = PaymentService._recorded
        b = payments._ack
        c = chalicelib.payments.service._ack
        d = self._own  # its own attributes: not another module's
        e = PaymentService.__name__
    """)
    assert [reach.split(" ", 1)[1] for reach in private_reaches(source, "m.py")] == [
        "from chalicelib.payments.service import _ack",
        "personal_data._exporters",
        "PaymentService._recorded",
        "payments._ack",
        "chalicelib.payments.service._ack",
    ]


def test_only_the_stripe_adapter_imports_the_stripe_library():
    """Provider SDKs stay in their adapters: the rest of the shop speaks the provider port."""
    importers = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if any(name == "stripe" or name.startswith("stripe.") for name in names):
                importers.append(str(path.relative_to(ROOT)))
    assert importers == ["chalicelib/payments/stripe_adapter.py"]


def test_requests_that_do_not_pay_never_load_the_stripe_library():
    """Stripe's library takes a sixth of a second to import: a cold start that does not pay never pays for it."""
    from tests.core.processes import run_fresh

    def request(method: str, resource: str, path: str, body: str | None = None) -> dict:
        return {"resource": resource, "path": path, "httpMethod": method,
                "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {},
                "queryStringParameters": None, "multiValueQueryStringParameters": None,
                "pathParameters": {"order_id": "o1"} if "{" in resource else None, "stageVariables": None,
                "body": body, "isBase64Encoded": False,
                "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "api",
                                   "requestId": "cold-request", "identity": {"sourceIp": "127.0.0.1"}}}

    requests = [request("GET", "/orders/{order_id}", "/orders/o1"),
                request("POST", "/webhooks/payments", "/webhooks/payments", "{}")]
    code = ("import sys, types, app\n"
            "context = types.SimpleNamespace(aws_request_id='cold-request', function_name='f', memory_limit_in_mb=512,"
            " get_remaining_time_in_millis=lambda: 10_000)\n"
            f"answers = [app.app(event, context)['statusCode'] for event in {requests!r}]\n"
            "assert answers == [401, 401], answers  # no token; the generic webhook unsigned\n"
            "assert 'stripe' not in sys.modules, 'a request that does not pay imported stripe'\n"
            "from chalicelib.composition import Services\n"
            "Services().payments, Services().refunds\n"
            "assert 'stripe' not in sys.modules, 'the payment ledger imported stripe'\n")
    run_fresh(code)
