"""The composition root: the one place the shop's services are built, each with what it depends on.

Every Lambda function (the API and each event handler) asks `services()` for what it needs: its
execution environment builds the root once, and the root builds each service on its first use, so a
cold start imports and builds only what its first request or message reaches. The registries (what
each domain exports and erases of a person) are filled here, by explicit calls, not by importing a
module. A test builds its own `Services()` (or a service from its constructor, with fakes) instead
of clearing caches.
"""
from __future__ import annotations

import importlib
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.audit.repository import AuditRepository
    from chalicelib.audit.service import AuditService
    from chalicelib.basket.repository import BasketRepository
    from chalicelib.basket.service import BasketService, PricingReader
    from chalicelib.catalogue.images import ImageService
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.catalogue.service import CatalogueService
    from chalicelib.notifications.repository import NotificationRepository
    from chalicelib.notifications.service import NotificationService
    from chalicelib.orders.checkout import CheckoutService
    from chalicelib.orders.repository import CheckoutRepository, OrderRepository
    from chalicelib.orders.service import OrderService
    from chalicelib.payments.execution import ProviderWork
    from chalicelib.payments.intents import IntentService
    from chalicelib.payments.provider import PaymentProvider
    from chalicelib.payments.refunds import RefundService
    from chalicelib.payments.repository import PaymentLedger, RefundRepository
    from chalicelib.payments.service import PaymentService
    from chalicelib.promotions.repository import PromotionRepository
    from chalicelib.promotions.service import PromotionService
    from chalicelib.returns.repository import ReturnRepository
    from chalicelib.returns.service import ReturnService
    from chalicelib.shipping.repository import ShippingMethodRepository
    from chalicelib.shipping.service import ShippingService
    from chalicelib.tax.repository import TaxRateRepository
    from chalicelib.tax.service import TaxService
    from chalicelib.users.auth import AuthService
    from chalicelib.users.personal_data import HasTime, PersonalData
    from chalicelib.users.repository import UserRepository
    from chalicelib.users.service import UserService


class built:  # lower case: used as a declaration, like cached_property
    """A part of the root: the class named by its dotted path, imported and built on first use from the root's
    parts named in `needs` (each built the same way), then kept. The import waits for the first use, so a
    function's cold start imports only what it reaches."""

    def __init__(self, path: str, *needs: str):
        self.path, self.needs = path, needs
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, root: Any, owner: type | None = None) -> Any:
        if root is None:
            return self
        module, _, name = self.path.rpartition(".")
        part = getattr(importlib.import_module(module), name)(*(getattr(root, need) for need in self.needs))
        root.__dict__[self.name] = part  # kept: found before this descriptor from now on
        return part


class Services:
    """Each service and repository built on first use, then kept for the life of this root: what each is, and
    what it is built from, is declared below.

    Services hold no per-request state: one of each serves every invocation of the environment."""

    # --- repositories ------------------------------------------------------------------

    products: ProductRepository = built("chalicelib.catalogue.repository.ProductRepository")
    user_records: UserRepository = built("chalicelib.users.repository.UserRepository")
    basket_records: BasketRepository = built("chalicelib.basket.repository.BasketRepository")
    promotion_records: PromotionRepository = built("chalicelib.promotions.repository.PromotionRepository")
    checkout_records: CheckoutRepository = built("chalicelib.orders.repository.CheckoutRepository", "products")
    order_records: OrderRepository = built("chalicelib.orders.repository.OrderRepository", "products")
    ledger: PaymentLedger = built("chalicelib.payments.repository.PaymentLedger")
    refund_records: RefundRepository = built("chalicelib.payments.repository.RefundRepository")
    return_records: ReturnRepository = built("chalicelib.returns.repository.ReturnRepository")
    notification_records: NotificationRepository = built("chalicelib.notifications.repository.NotificationRepository")
    audit_records: AuditRepository = built("chalicelib.audit.repository.AuditRepository")
    tax_rates: TaxRateRepository = built("chalicelib.tax.repository.TaxRateRepository")
    shipping_methods: ShippingMethodRepository = built("chalicelib.shipping.repository.ShippingMethodRepository")
    pricing: PricingReader = built("chalicelib.basket.service.PricingReader", "products", "promotion_records",
                                   "tax_rates", "shipping_methods")

    # --- services ----------------------------------------------------------------------

    users: UserService = built("chalicelib.users.service.UserService", "user_records", "personal_data")
    auth: AuthService = built("chalicelib.users.auth.AuthService", "user_records")
    catalogue: CatalogueService = built("chalicelib.catalogue.service.CatalogueService", "products")
    images: ImageService = built("chalicelib.catalogue.images.ImageService", "products")
    baskets: BasketService = built("chalicelib.basket.service.BasketService", "basket_records", "pricing",
                                   "user_records")
    checkouts: CheckoutService = built("chalicelib.orders.checkout.CheckoutService", "checkout_records",
                                       "basket_records", "pricing", "user_records", "promotion_records")
    orders: OrderService = built("chalicelib.orders.service.OrderService",
                                 "order_records", "checkout_records", "user_records", "personal_data")
    # The stage's payment provider (PAYMENT_PROVIDER): its SDK is imported when a part that pays is first used.
    payment_provider: PaymentProvider = built("chalicelib.payments.provider.configured")
    intents: IntentService = built("chalicelib.payments.intents.IntentService", "orders", "payment_provider")
    provider_work: ProviderWork = built("chalicelib.payments.execution.ProviderWork", "order_records", "refunds",
                                        "payment_provider")
    payments: PaymentService = built("chalicelib.payments.service.PaymentService", "orders", "ledger", "refunds")
    refunds: RefundService = built("chalicelib.payments.refunds.RefundService",
                                   "order_records", "refund_records", "ledger")
    returns: ReturnService = built("chalicelib.returns.service.ReturnService",
                                   "order_records", "return_records", "refunds")
    promotions: PromotionService = built("chalicelib.promotions.service.PromotionService", "promotion_records")
    notifications: NotificationService = built("chalicelib.notifications.service.NotificationService",
                                               "notification_records", "user_records")
    audit: AuditService = built("chalicelib.audit.service.AuditService", "audit_records")
    tax: TaxService = built("chalicelib.tax.service.TaxService", "tax_rates")
    shipping: ShippingService = built("chalicelib.shipping.service.ShippingService", "shipping_methods")

    # --- registries --------------------------------------------------------------------

    @cached_property
    def personal_data(self) -> PersonalData:
        """What each domain holds about a person, for export (GET /me/export) and erasure (DELETE /me): the
        erasers run in the erase_users function, a page at a time while there is time (users/erasure.py).
        Each entry reaches its service only when it runs, so registering builds nothing."""
        from chalicelib.users.personal_data import PersonalData

        registry = PersonalData()
        registry.register_exporter("orders", lambda user_id: self.orders.export_for(user_id))
        registry.register_eraser("orders", lambda user_id, has_time: self.orders.anonymise_for(user_id, has_time))
        registry.register_exporter("notifications", lambda user_id: self.notifications.export_for(user_id))
        registry.register_eraser("notifications",
                                 lambda user_id, has_time: self.notifications.erase_for(user_id, has_time))
        registry.register_eraser("basket", self._erase_basket)
        registry.register_eraser("audit", self._erase_audit)
        # What other domains hold about the person through each of their checkouts and orders (the orders'
        # eraser asks, entity by entity, before the order leaves the person's index).
        registry.register_entity_eraser("ORDER", "returns", lambda order_id, user_id:
                                        self.return_records.forget_customer(order_id, user_id))
        registry.register_entity_eraser("ORDER", "refunds", lambda order_id, user_id:
                                        self.refund_records.forget_customer(order_id, user_id))
        for entity in ("ORDER", "CHECKOUT"):
            registry.register_entity_eraser(entity, "audit", lambda entity_id, user_id, entity=entity:
                                            self.audit.forget(entity, entity_id, user_id))
        return registry

    def _erase_basket(self, user_id: str, has_time: HasTime) -> bool:
        self.baskets.erase_for(user_id)  # one item: done at once
        return True

    def _erase_audit(self, user_id: str, has_time: HasTime) -> bool:
        self.audit.forget("USER", user_id, user_id)
        return True


_services: Services | None = None


def services() -> Services:
    """This execution environment's root, built on first use (a Lambda environment serves one function)."""
    global _services
    if _services is None:
        _services = Services()
    return _services
