"""A client generated from the document (openapi-python-client) completes the shopper's flow over HTTP.

The document is what a client team gets; if the generator cannot turn it into typed calls, or the calls
it makes are not what the server takes, the contract is wrong. The client talks to the local stack
(`python -m local.run`, as `make run` starts it) on a free port.
"""
from __future__ import annotations

import importlib
import pathlib
import subprocess
import sys
import time
import uuid

import pytest

PACKAGE = "shop_client"


@pytest.fixture(scope="module")
def client_package(tmp_path_factory):
    from tools.openapi import render

    where = tmp_path_factory.mktemp("generated")
    (where / "openapi.json").write_text(render())
    (where / "config.yaml").write_text("post_hooks: []\n")  # no formatter runs on the generated code
    generator = pathlib.Path(sys.executable).parent / "openapi-python-client"
    result = subprocess.run([str(generator), "generate", "--path", "openapi.json", "--meta", "none",
                             "--output-path", PACKAGE, "--config", "config.yaml", "--fail-on-warning"],
                            cwd=where, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    from tests.stack import local_run

    with local_run(tmp_path_factory.mktemp("client-stack") / "run.log") as base:
        yield base


def test_the_generated_client_registers_shops_checks_out_and_reads_its_order(client_package, base_url):
    from shop_client import AuthenticatedClient, Client
    from shop_client.api.auth import post_auth_login, post_auth_register
    from shop_client.api.basket import (
        get_basket_shipping_methods,
        post_basket_checkout,
        put_basket_items_variant_id,
        put_basket_shipping_address,
        put_basket_shipping_method,
    )
    from shop_client.api.orders import get_orders_order_id
    from shop_client.api.products import get_products
    from shop_client.models import (
        CheckoutAccepted,
        CheckoutRequest,
        LoginRequest,
        Order,
        OrderStatus,
        PostalAddress,
        PostalAddressCountry,
        QuantityChange,
        RegisterRequest,
        ShippingChoice,
        Tokens,
    )

    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True, timeout=15)
    email, password = f"generated-{uuid.uuid4().hex[:8]}@example.com", "Generated123"
    registered = post_auth_register.sync_detailed(client=anonymous, body=RegisterRequest(
        email=email, password=password, name="Generated Client"))
    assert registered.status_code == 201, registered.content
    tokens = post_auth_login.sync(client=anonymous, body=LoginRequest(email=email, password=password))
    assert isinstance(tokens, Tokens), tokens
    shopper = AuthenticatedClient(base_url=base_url, token=tokens.id_token, prefix="Bearer",
                                  raise_on_unexpected_status=True, timeout=15)

    products = get_products.sync(client=anonymous, limit=20)
    product = next(p for p in products.items if p.in_stock and len(p.variants) == 1 and p.price_range)
    basket = put_basket_items_variant_id.sync(product.id, client=shopper, body=QuantityChange(quantity=1))
    assert [line.product_id for line in basket.items] == [product.id]

    address = PostalAddress(name="Generated Client", line1="1 Main St", city="Ghent", postal_code="9000",
                            country=PostalAddressCountry.BE)
    shipped = put_basket_shipping_address.sync(client=shopper, body=address)
    assert shipped.shipping_address.city == "Ghent", shipped
    offered = get_basket_shipping_methods.sync(client=shopper)
    chosen = put_basket_shipping_method.sync(client=shopper, body=ShippingChoice(id=offered.items[0].id))
    assert chosen.shipping_method.id == offered.items[0].id and chosen.total >= chosen.subtotal, chosen
    accepted = post_basket_checkout.sync(client=shopper, idempotency_key=uuid.uuid4().hex, body=CheckoutRequest())
    assert isinstance(accepted, CheckoutAccepted), accepted

    deadline = time.monotonic() + 30  # the order is created by the pipeline, off the request
    while not isinstance(order := get_orders_order_id.sync(accepted.order_id, client=shopper), Order):
        assert time.monotonic() < deadline, order
        time.sleep(0.3)
    assert (order.id, order.status, order.subtotal) == (accepted.order_id, OrderStatus.PENDING,
                                                     product.price_range.low)
    assert order.created_at.tzinfo is not None  # a date-time, parsed as one
    assert order.shipping_address.city == "Ghent"
