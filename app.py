"""The shop's API: every route and event handler, each a few lines that parse and delegate.

Domain modules are imported on first use (`lazy`): a cold start loads only what its first
request needs. Read the stand-ins below as the imports they are.
"""
import os

from chalice import Chalice, CognitoUserPoolAuthorizer, Rate, Response

from chalicelib.core.auth import ADMIN_GROUP, caller, register_caller_check
from chalicelib.core.http import body, current_request, header, http_middleware, query, respond
from chalicelib.core.lazy import lazy
from chalicelib.core.observability import observe
from chalicelib.core.openapi import doc
from chalicelib.notifications import NOTIFIED_EVENTS
from chalicelib.users.personal_data import register_eraser, register_exporter

docs_page, openapi_spec = lazy("chalicelib.api_docs", "docs_page", "openapi_spec")
check_health = lazy("chalicelib.core.health", "check_health")
batch_response, consume, handle_event = lazy("chalicelib.core.messages", "batch_response", "consume", "handle_event")
PageQuery = lazy("chalicelib.core.models", "PageQuery")
AuditQuery, AuditRecord = lazy("chalicelib.audit.models", "AuditQuery", "AuditRecord")
audit_service = lazy("chalicelib.audit.service", "audit_service")
BasketOut, QuantityChange = lazy("chalicelib.basket.models", "BasketOut", "QuantityChange")
basket_service = lazy("chalicelib.basket.service", "basket_service")
Product, ProductCreate, ProductListQuery, ProductPatch, StockAdjustment = lazy(
    "chalicelib.catalogue.models", "Product", "ProductCreate", "ProductListQuery", "ProductPatch", "StockAdjustment")
catalogue = lazy("chalicelib.catalogue.service", "catalogue")
sweep = lazy("chalicelib.housekeeping.service", "sweep")
Notification = lazy("chalicelib.notifications.models", "Notification")
notification_service = lazy("chalicelib.notifications.service", "notification_service")
checkout_service = lazy("chalicelib.orders.checkout", "checkout_service")
AdminOrderQuery, CheckoutAccepted, CheckoutRequest, Order, OrderListQuery, StatusChange = lazy(
    "chalicelib.orders.models", "AdminOrderQuery", "CheckoutAccepted", "CheckoutRequest", "Order", "OrderListQuery",
    "StatusChange")
create_orders = lazy("chalicelib.orders.pipeline", "create_orders")
order_service = lazy("chalicelib.orders.service", "order_service")
LedgerEntry, PaymentAck, PaymentEvent = lazy("chalicelib.payments.models", "LedgerEntry", "PaymentAck",
                                            "PaymentEvent")
payment_service = lazy("chalicelib.payments.service", "payment_service")
auth_service = lazy("chalicelib.users.auth", "auth_service")
(Address, AddressIn, AdminUser, ConfirmRequest, ForgotPasswordRequest, LoginRequest, ProfileOut, ProfilePatch,
 RefreshRequest, Registered, RegisterRequest, ResetPasswordRequest, Tokens, UserListQuery, UserStatusChange) = lazy(
    "chalicelib.users.models", "Address", "AddressIn", "AdminUser", "ConfirmRequest", "ForgotPasswordRequest",
    "LoginRequest", "ProfileOut", "ProfilePatch", "RefreshRequest", "Registered", "RegisterRequest",
    "ResetPasswordRequest", "Tokens", "UserListQuery", "UserStatusChange")
refuse_inactive_users, users = lazy("chalicelib.users.service", "refuse_inactive_users", "users")

app = Chalice(app_name="shop")
app.register_middleware(observe, "all")
app.register_middleware(http_middleware(app), "http")
register_caller_check(refuse_inactive_users)
register_exporter("orders", lambda user_id: order_service().export_for(user_id))
register_eraser("orders", lambda user_id: order_service().anonymise_for(user_id))
register_exporter("notifications", lambda user_id: notification_service().export_for(user_id))
register_eraser("notifications", lambda user_id: notification_service().erase_for(user_id))

# The deployed template binds the real pool ARN (see .chalice/resources.json).
cognito = CognitoUserPoolAuthorizer(
    "ShopUsers", provider_arns=[os.environ.get(
        "USER_POOL_ARN", "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_shop")])
# Stage-specific names arrive through .chalice/config.json before this module is imported.
ORDERS_QUEUE = os.environ.get("ORDERS_QUEUE_NAME", "shop-local-orders")
AUDIT_QUEUE = os.environ.get("AUDIT_QUEUE_NAME", "shop-local-audit")


def page(result):
    return {"items": [item.model_dump(mode="json", by_alias=True) for item in result.items],
            "nextCursor": result.next_cursor}


# --- health and API description -------------------------------------------------------

@app.route("/openapi.json", methods=["GET"])
@doc("This document", "public", raw_response={"type": "object"})
def openapi_document():
    return openapi_spec(app)


@app.route("/docs", methods=["GET"])
@doc("Browsable API documentation (works offline)", "public", raw_response={"type": "string"})
def api_docs():
    return Response(body=docs_page(), status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@app.route("/health", methods=["GET"])
@doc("Health: is the table reachable?", "public", raw_response={"type": "object"}, errors=(503,))
def health():
    return check_health()


# --- auth -----------------------------------------------------------------------------

@app.route("/auth/register", methods=["POST"])
@doc("Register a new account", "public", body=RegisterRequest, returns=Registered, status=201, errors=(409, 429))
def register():
    return respond(auth_service().register(body(RegisterRequest)), status=201)


@app.route("/auth/confirm", methods=["POST"])
@doc("Confirm an account with the emailed code", "public", body=ConfirmRequest, status=204)
def confirm_registration():
    auth_service().confirm(body(ConfirmRequest))
    return respond(status=204)


@app.route("/auth/login", methods=["POST"])
@doc("Log in: ID, access and refresh tokens", "public", body=LoginRequest, returns=Tokens, errors=(401, 403, 429))
def login():
    return respond(auth_service().login(body(LoginRequest)))


@app.route("/auth/refresh", methods=["POST"])
@doc("New tokens for a refresh token", "public", body=RefreshRequest, returns=Tokens, errors=(401, 429))
def refresh_tokens():
    return respond(auth_service().refresh(body(RefreshRequest)))


@app.route("/auth/forgot-password", methods=["POST"])
@doc("Send a password reset code (never says whether the email exists)", "public", body=ForgotPasswordRequest,
     status=202, raw_response={"type": "object"}, errors=(429,))
def forgot_password():
    auth_service().forgot_password(body(ForgotPasswordRequest))
    return respond({"status": "If the account exists, a reset code has been sent."}, status=202)


@app.route("/auth/reset-password", methods=["POST"])
@doc("Set a new password with the emailed code", "public", body=ResetPasswordRequest, status=204, errors=(429,))
def reset_password():
    auth_service().reset_password(body(ResetPasswordRequest))
    return respond(status=204)


# --- me -------------------------------------------------------------------------------

@app.route("/me", methods=["GET"], authorizer=cognito)
@doc("My profile", "user", returns=ProfileOut)
def get_me():
    return respond(users().me(caller()))


@app.route("/me", methods=["PATCH"], authorizer=cognito)
@doc("Change my name, phone or marketing preferences", "user", body=ProfilePatch, returns=ProfileOut)
def update_me():
    return respond(users().update_me(caller(), body(ProfilePatch)))


@app.route("/me", methods=["DELETE"], authorizer=cognito)
@doc("Erase my personal data and disable my login", "user", status=204, allows_inactive=True)
def erase_me():
    users().erase(caller(allow_inactive=True))
    return respond(status=204)


@app.route("/me/export", methods=["GET"], authorizer=cognito)
@doc("Everything the shop holds about me", "user", raw_response={"type": "object"})
def export_me():
    return users().export(caller())


@app.route("/me/notifications", methods=["GET"], authorizer=cognito)
@doc("My notifications, newest first", "user", query=PageQuery, returns=Notification, paged=True)
def list_notifications():
    return page(notification_service().feed(caller().user_id, query(PageQuery)))


@app.route("/me/notifications/{notification_id}/read", methods=["POST"], authorizer=cognito)
@doc("Mark a notification read", "user", returns=Notification)
def mark_notification_read(notification_id):
    return respond(notification_service().mark_read(caller().user_id, notification_id))


@app.route("/me/addresses", methods=["GET"], authorizer=cognito)
@doc("My address book", "user", returns=Address, paged=True)
def list_addresses():
    return {"items": [a.model_dump(mode="json", by_alias=True) for a in users().addresses(caller())],
            "nextCursor": None}


@app.route("/me/addresses", methods=["POST"], authorizer=cognito)
@doc("Add an address (at most 10; the first is the default)", "user",
     body=AddressIn, returns=Address, status=201, errors=(409,))
def add_address():
    return respond(users().add_address(caller(), body(AddressIn)), status=201)


@app.route("/me/addresses/{address_id}", methods=["PUT"], authorizer=cognito)
@doc("Replace an address", "user", body=AddressIn, returns=Address)
def replace_address(address_id):
    return respond(users().replace_address(caller(), address_id, body(AddressIn)))


@app.route("/me/addresses/{address_id}", methods=["DELETE"], authorizer=cognito)
@doc("Delete an address (the default passes to another)", "user", status=204, errors=(409,))
def delete_address(address_id):
    users().delete_address(caller(), address_id)
    return respond(status=204)


# --- catalogue ------------------------------------------------------------------------

@app.route("/products", methods=["GET"])
@doc("Active products, by name, optionally of one category", "public",
     query=ProductListQuery, returns=Product, paged=True)
def list_products():
    return page(catalogue().list(query(ProductListQuery)))


@app.route("/products/{product_id}", methods=["GET"])
@doc("One product (archived ones too)", "public", returns=Product)
def get_product(product_id):
    return respond(catalogue().get(product_id))


@app.route("/products", methods=["POST"], authorizer=cognito)
@doc("Create a product", "admin", body=ProductCreate, returns=Product, status=201)
def create_product():
    staff = caller(require_group=ADMIN_GROUP)
    return respond(catalogue().create(body(ProductCreate), actor=staff.user_id), status=201)


@app.route("/products/{product_id}", methods=["PATCH"], authorizer=cognito)
@doc("Edit a product (optimistic locking on version)", "admin", body=ProductPatch, returns=Product, errors=(409,))
def update_product(product_id):
    staff = caller(require_group=ADMIN_GROUP)
    return respond(catalogue().update(product_id, body(ProductPatch), actor=staff.user_id))


@app.route("/products/{product_id}", methods=["DELETE"], authorizer=cognito)
@doc("Archive a product (kept for past orders)", "admin", returns=Product)
def archive_product(product_id):
    staff = caller(require_group=ADMIN_GROUP)
    return respond(catalogue().archive(product_id, actor=staff.user_id))


@app.route("/products/{product_id}/stock", methods=["POST"], authorizer=cognito)
@doc("Adjust stock by a delta, never below zero", "admin", body=StockAdjustment, returns=Product, errors=(409,))
def adjust_stock(product_id):
    staff = caller(require_group=ADMIN_GROUP)
    return respond(catalogue().adjust_stock(product_id, body(StockAdjustment), actor=staff.user_id))


# --- admin: users ---------------------------------------------------------------------

@app.route("/admin/users", methods=["GET"], authorizer=cognito)
@doc("Users, optionally by status", "admin", query=UserListQuery, returns=AdminUser, paged=True)
def admin_list_users():
    caller(require_group=ADMIN_GROUP)
    return page(users().list_users(query(UserListQuery)))


@app.route("/admin/users/{user_id}", methods=["PATCH"], authorizer=cognito)
@doc("Suspend or reactivate a user", "admin", body=UserStatusChange, returns=AdminUser, errors=(409,))
def admin_set_user_status(user_id):
    staff = caller(require_group=ADMIN_GROUP)
    return respond(users().set_status(staff, user_id, body(UserStatusChange)))


# --- basket and checkout --------------------------------------------------------------

@app.route("/basket", methods=["GET"], authorizer=cognito)
@doc("My basket, priced from the catalogue", "user", returns=BasketOut)
def get_basket():
    return respond(basket_service().view(caller().user_id))


@app.route("/basket/items/{product_id}", methods=["PUT"], authorizer=cognito)
@doc("Set a line's quantity (0 removes it)", "user", body=QuantityChange, returns=BasketOut, errors=(409,))
def set_basket_item(product_id):
    who = caller()
    return respond(basket_service().set_quantity(who.user_id, product_id, body(QuantityChange).quantity))


@app.route("/basket/items/{product_id}", methods=["DELETE"], authorizer=cognito)
@doc("Remove a line", "user", status=204)
def remove_basket_item(product_id):
    basket_service().set_quantity(caller().user_id, product_id, 0)
    return respond(status=204)


@app.route("/basket", methods=["DELETE"], authorizer=cognito)
@doc("Empty my basket", "user", status=204)
def clear_basket():
    basket_service().clear(caller().user_id)
    return respond(status=204)


@app.route("/basket/checkout", methods=["POST"], authorizer=cognito)
@doc("Check out the basket: stock reserved, order created asynchronously", "user",
     body=CheckoutRequest, returns=CheckoutAccepted, status=202, errors=(409,),
     headers=(("Idempotency-Key", True, "8-128 characters; the same key and body answer the same result"),))
def checkout():
    who = caller()
    accepted = checkout_service().checkout(who, header("Idempotency-Key"), body(CheckoutRequest))
    return respond(accepted, status=202)


# --- orders ---------------------------------------------------------------------------

@app.route("/orders", methods=["GET"], authorizer=cognito)
@doc("My orders, newest first", "user", query=OrderListQuery, returns=Order, paged=True)
def list_orders():
    return page(order_service().list_own(caller(), query(OrderListQuery)))


@app.route("/orders/{order_id}", methods=["GET"], authorizer=cognito)
@doc("One of my orders (staff: any order)", "user", returns=Order)
def get_order(order_id):
    return respond(order_service().get_for(caller(), order_id))


@app.route("/orders/{order_id}/cancel", methods=["POST"], authorizer=cognito)
@doc("Cancel my order while it is not shipped", "user", returns=Order, errors=(409,))
def cancel_order(order_id):
    return respond(order_service().cancel_own(caller(), order_id))


@app.route("/admin/orders", methods=["GET"], authorizer=cognito)
@doc("Orders by status", "admin", query=AdminOrderQuery, returns=Order, paged=True)
def admin_list_orders():
    caller(require_group=ADMIN_GROUP)
    return page(order_service().list_by_status(query(AdminOrderQuery)))


@app.route("/admin/orders/{order_id}/status", methods=["POST"], authorizer=cognito)
@doc("Move an order through the state machine", "admin", body=StatusChange, returns=Order, errors=(409,))
def admin_set_order_status(order_id):
    staff = caller(require_group=ADMIN_GROUP)
    return respond(order_service().set_status(staff, order_id, body(StatusChange)))


@app.route("/admin/audit", methods=["GET"], authorizer=cognito)
@doc("Audit records by entity or date", "admin", query=AuditQuery, returns=AuditRecord, paged=True)
def admin_audit():
    caller(require_group=ADMIN_GROUP)
    return page(audit_service().query(query(AuditQuery)))


# --- payments (public: authenticated by the provider's signature) ----------------------

@app.route("/webhooks/payments", methods=["POST"])
@doc("Payment provider webhook (HMAC signed): every verified event is recorded and acknowledged", "signature",
     body=PaymentEvent, returns=PaymentAck, errors=(503,))
def payment_webhook():
    return respond(payment_service().receive(current_request().raw_body or b"", header("X-Signature")))


@app.route("/admin/payments/review", methods=["GET"], authorizer=cognito)
@doc("Provider events needing a person: unknown orders, amounts or currencies not the order's", "admin",
     query=PageQuery, returns=LedgerEntry, paged=True)
def admin_payments_for_review():
    caller(require_group=ADMIN_GROUP)
    return page(payment_service().for_review(query(PageQuery)))


# --- asynchronous handlers ------------------------------------------------------------

@app.on_sqs_message(queue=ORDERS_QUEUE, batch_size=10, name="create_orders")
def on_checkout_requested(event):
    return create_orders(record.to_dict() for record in event)


@app.on_sqs_message(queue=AUDIT_QUEUE, batch_size=10, name="record_audit")
def on_audited_event(event):
    failures, _ = consume((record.to_dict() for record in event), audit_service().record, "audit")
    return batch_response(failures)


# The deployed rule lives on the project's bus (see the merge template), not the default bus.
@app.on_cw_event({"source": ["shop"], "detail-type": list(NOTIFIED_EVENTS)}, name="notify")
def on_notified_event(event):
    handle_event(event.to_dict(), notification_service().handle)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="housekeeping")
def housekeeping(event):
    return sweep(remaining_ms=getattr(event.context, "get_remaining_time_in_millis", None))
