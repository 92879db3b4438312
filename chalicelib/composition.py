"""The composition root: the one place the shop's services are built, each with what it depends on.

Every Lambda function (the API and each event handler) asks `services()` for what it needs: its
execution environment builds the root once, and the root builds each service on its first use, so a
cold start imports and builds only what its first request or message reaches. The registries (what
each domain exports and erases of a person) are filled here, by explicit calls, not by importing a
module. A test builds its own `Services()` (or a service from its constructor, with fakes) instead
of clearing caches.
"""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.audit.repository import AuditRepository
    from chalicelib.audit.service import AuditService
    from chalicelib.basket.repository import BasketRepository
    from chalicelib.basket.service import BasketService
    from chalicelib.catalogue.images import ImageService
    from chalicelib.catalogue.repository import ProductRepository
    from chalicelib.catalogue.service import CatalogueService
    from chalicelib.notifications.repository import NotificationRepository
    from chalicelib.notifications.service import NotificationService
    from chalicelib.orders.checkout import CheckoutService
    from chalicelib.orders.repository import CheckoutRepository, OrderRepository
    from chalicelib.orders.service import OrderService
    from chalicelib.payments.refunds import RefundService
    from chalicelib.payments.repository import PaymentLedger, RefundRepository
    from chalicelib.payments.service import PaymentService
    from chalicelib.promotions.repository import PromotionRepository
    from chalicelib.promotions.service import PromotionService
    from chalicelib.returns.repository import ReturnRepository
    from chalicelib.returns.service import ReturnService
    from chalicelib.users.auth import AuthService
    from chalicelib.users.personal_data import HasTime, PersonalData
    from chalicelib.users.repository import UserRepository
    from chalicelib.users.service import UserService


class Services:
    """Each service and repository built on first use, then kept for the life of this root.

    Services hold no per-request state: one of each serves every invocation of the environment."""

    # --- repositories ------------------------------------------------------------------

    @cached_property
    def products(self) -> ProductRepository:
        from chalicelib.catalogue.repository import ProductRepository

        return ProductRepository()

    @cached_property
    def user_records(self) -> UserRepository:
        from chalicelib.users.repository import UserRepository

        return UserRepository()

    @cached_property
    def basket_records(self) -> BasketRepository:
        from chalicelib.basket.repository import BasketRepository

        return BasketRepository()

    @cached_property
    def promotion_records(self) -> PromotionRepository:
        from chalicelib.promotions.repository import PromotionRepository

        return PromotionRepository()

    @cached_property
    def checkout_records(self) -> CheckoutRepository:
        from chalicelib.orders.repository import CheckoutRepository

        return CheckoutRepository(self.products)

    @cached_property
    def order_records(self) -> OrderRepository:
        from chalicelib.orders.repository import OrderRepository

        return OrderRepository(self.products)

    @cached_property
    def ledger(self) -> PaymentLedger:
        from chalicelib.payments.repository import PaymentLedger

        return PaymentLedger()

    @cached_property
    def refund_records(self) -> RefundRepository:
        from chalicelib.payments.repository import RefundRepository

        return RefundRepository()

    @cached_property
    def return_records(self) -> ReturnRepository:
        from chalicelib.returns.repository import ReturnRepository

        return ReturnRepository()

    @cached_property
    def notification_records(self) -> NotificationRepository:
        from chalicelib.notifications.repository import NotificationRepository

        return NotificationRepository()

    @cached_property
    def audit_records(self) -> AuditRepository:
        from chalicelib.audit.repository import AuditRepository

        return AuditRepository()

    # --- services ----------------------------------------------------------------------

    @cached_property
    def users(self) -> UserService:
        from chalicelib.users.service import UserService

        return UserService(self.user_records, self.personal_data)

    @cached_property
    def auth(self) -> AuthService:
        from chalicelib.users.auth import AuthService

        return AuthService(self.user_records)

    @cached_property
    def catalogue(self) -> CatalogueService:
        from chalicelib.catalogue.service import CatalogueService

        return CatalogueService(self.products)

    @cached_property
    def images(self) -> ImageService:
        from chalicelib.catalogue.images import ImageService

        return ImageService(self.products)

    @cached_property
    def baskets(self) -> BasketService:
        from chalicelib.basket.service import BasketService

        return BasketService(self.basket_records, self.products, self.promotion_records)

    @cached_property
    def checkouts(self) -> CheckoutService:
        from chalicelib.orders.checkout import CheckoutService

        return CheckoutService(self.checkout_records, self.basket_records, self.products, self.user_records,
                               self.promotion_records)

    @cached_property
    def orders(self) -> OrderService:
        from chalicelib.orders.service import OrderService

        return OrderService(self.order_records, self.checkout_records, self.user_records, self.personal_data)

    @cached_property
    def payments(self) -> PaymentService:
        from chalicelib.payments.service import PaymentService

        return PaymentService(self.orders, self.ledger, self.refunds)

    @cached_property
    def refunds(self) -> RefundService:
        from chalicelib.payments.refunds import RefundService

        return RefundService(self.order_records, self.refund_records, self.ledger)

    @cached_property
    def returns(self) -> ReturnService:
        from chalicelib.returns.service import ReturnService

        return ReturnService(self.order_records, self.return_records, self.refunds)

    @cached_property
    def promotions(self) -> PromotionService:
        from chalicelib.promotions.service import PromotionService

        return PromotionService(self.promotion_records)

    @cached_property
    def notifications(self) -> NotificationService:
        from chalicelib.notifications.service import NotificationService

        return NotificationService(self.notification_records, self.user_records)

    @cached_property
    def audit(self) -> AuditService:
        from chalicelib.audit.service import AuditService

        return AuditService(self.audit_records)

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
