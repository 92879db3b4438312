"""Demo data for the local stack: a small catalogue and two logins (overridable by environment), seeded only
into an empty shop (a restarted stack keeps what it had, demo data changed or deleted included)."""
from __future__ import annotations

import os
from typing import Any

DEMO_PRODUCTS = [
    ("kitchen", "Espresso Cup Set", "Four porcelain cups, 80 ml each.", 2400, 40),
    ("kitchen", "Cast Iron Skillet", "26 cm, pre-seasoned, oven safe.", 4900, 15),
    ("kitchen", "Chef's Knife", "20 cm blade, German steel.", 7900, 8),
    ("kitchen", "Bamboo Cutting Board", "Large, with juice groove.", 2900, 25),
    ("garden", "Watering Can", "Galvanised steel, 5 litres.", 3400, 12),
    ("garden", "Pruning Shears", "Bypass blades for live stems.", 2200, 30),
    ("garden", "Herb Seed Collection", "Basil, parsley, chives, thyme and mint.", 1200, 60),
    ("garden", "Garden Kneeler", "Foldable kneeler and seat.", 3900, 4),
    ("lighting", "Linen Table Lamp", "E27, linen shade, oak base.", 6900, 10),
    ("lighting", "LED Desk Light", "Dimmable, USB-C powered.", 4500, 20),
    ("lighting", "Paper Pendant Shade", "45 cm rice-paper globe.", 2900, 18),
    ("lighting", "Outdoor String Lights", "10 m, 20 warm bulbs, IP65.", 3900, 3),
    ("books", "The Home Cook's Handbook", "Hardback, 320 pages.", 2800, 22),
    ("books", "Small Gardens", "Design ideas for balconies and yards.", 2400, 9),
]

# A product sold in sizes and colours, each variant with its own SKU, stock and prices in two currencies.
DEMO_TEE = {
    "name": "Organic Cotton T-Shirt", "category": "apparel", "description": "Heavyweight jersey, relaxed fit.",
    "options": [{"name": "Size", "values": ["S", "M", "L"]}, {"name": "Colour", "values": ["Ecru", "Navy"]}],
    "variants": [{"sku": f"TEE-{size}-{colour[:3].upper()}", "options": {"Size": size, "Colour": colour},
                  "prices": [{"currency": "EUR", "amount": 2900}, {"currency": "USD", "amount": 3200}],
                  "stock": stock}
                 for (size, colour), stock in zip([(s, c) for s in ("S", "M", "L") for c in ("Ecru", "Navy")],
                                                  (12, 8, 20, 15, 6, 0))],
}

# Tax rates by zone and class (books are `reduced`), and shipping methods: enough to see inclusive prices (EUR, GBP)
# and added tax (USD, California) in a basket.
DEMO_RATES = [("DE", "standard", 19), ("DE", "reduced", 7), ("BE", "standard", 21), ("BE", "reduced", 6),
              ("FR", "standard", 20), ("FR", "reduced", 5.5), ("NL", "standard", 21), ("NL", "reduced", 9),
              ("GB", "standard", 20), ("GB", "reduced", 0), ("US-CA", "standard", 7.25), ("US-NY", "standard", 4)]
EU = ["AT", "BE", "DE", "DK", "ES", "FR", "IE", "IT", "LU", "NL", "PT"]
DEMO_SHIPPING = [
    {"name": "Standard", "zones": EU, "minDays": 2, "maxDays": 5,
     "rates": [{"currency": "EUR", "amount": 495, "freeOver": 5000}]},
    {"name": "Express", "zones": EU, "minDays": 1, "maxDays": 2, "rates": [{"currency": "EUR", "amount": 1295}]},
    {"name": "Royal Mail Tracked", "zones": ["GB"], "minDays": 2, "maxDays": 4,
     "rates": [{"currency": "GBP", "amount": 395}, {"currency": "EUR", "amount": 895}]},
    {"name": "Ground", "zones": ["US"], "minDays": 3, "maxDays": 7,
     "rates": [{"currency": "USD", "amount": 799, "freeOver": 7500}]},
]

DEFAULT_LOGINS = {
    "admin": ("LOCAL_ADMIN_EMAIL", "admin@example.com", "LOCAL_ADMIN_PASSWORD", "Admin123!demo", "Demo Admin"),
    "customer": ("LOCAL_CUSTOMER_EMAIL", "customer@example.com", "LOCAL_CUSTOMER_PASSWORD", "Customer123!demo",
                 "Demo Customer"),
}


def logins() -> dict[str, tuple[str, str, str]]:
    """role -> (email, password, name), with the environment's overrides."""
    return {role: (os.environ.get(e_var, email).strip().lower(), os.environ.get(p_var, password), name)
            for role, (e_var, email, p_var, password, name) in DEFAULT_LOGINS.items()}


def shop_is_empty(ddb: Any, table: str) -> bool:
    """Nothing in the shop's table at all: a new stack, or one emptied on purpose."""
    return not ddb.scan(TableName=table, Limit=1, Select="COUNT", ConsistentRead=True)["Count"]


def seed_catalogue() -> int:
    from chalicelib.catalogue.models import ProductCreate
    from chalicelib.composition import services

    catalogue = services().catalogue
    for category, name, description, price, stock in DEMO_PRODUCTS:
        catalogue.create(ProductCreate(name=name, description=description, category=category, price=price,
                                       currency="EUR", stock=stock,
                                       tax_class="reduced" if category == "books" else "standard"), actor="seed")
    catalogue.create(ProductCreate.model_validate(DEMO_TEE), actor="seed")
    return len(DEMO_PRODUCTS) + 1


def seed_totals() -> tuple[int, int]:
    """The demo tax rates and shipping methods: (rates, methods)."""
    from chalicelib.composition import services
    from chalicelib.shipping.models import ShippingMethodCreate
    from chalicelib.tax.models import TaxRateIn

    shop = services()
    for zone, tax_class, percent in DEMO_RATES:
        shop.tax.set_rate(zone, tax_class, TaxRateIn(rate_percent=percent), actor="seed")
    for method in DEMO_SHIPPING:
        shop.shipping.create(ShippingMethodCreate.model_validate(method), actor="seed")
    return len(DEMO_RATES), len(DEMO_SHIPPING)


def seed_users(idp: Any, pool_id: str) -> dict[str, tuple[str, str, str]]:
    """Create the demo admin and customer (confirmed, permanent passwords) with their profiles; a login the pool
    holds already (an emptied table, a restored pool) keeps its password and gets its profile back."""
    from chalicelib.composition import services
    from chalicelib.core.auth import Caller

    accounts = logins()
    for role, (email, password, name) in accounts.items():
        try:
            attributes = idp.admin_create_user(
                UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS",
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"},
                                {"Name": "name", "Value": name}])["User"]["Attributes"]
            idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
        except idp.exceptions.UsernameExistsException:
            attributes = idp.admin_get_user(UserPoolId=pool_id, Username=email)["UserAttributes"]
        if role == "admin":
            idp.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName="admin")
        sub = next(a["Value"] for a in attributes if a["Name"] == "sub")
        services().users.profile(Caller(user_id=sub, email=email, name=name))
    return accounts
