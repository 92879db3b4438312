"""The shop's API: every route and event handler, each a few lines that parse and delegate."""
import os

from chalice import Chalice, CognitoUserPoolAuthorizer, Rate

from chalicelib.audit.models import AuditQuery
from chalicelib.audit.service import audit_service
from chalicelib.basket.models import QuantityChange
from chalicelib.basket.service import basket_service
from chalicelib.catalogue.models import (
    ProductCreate,
    ProductListQuery,
    ProductPatch,
    StockAdjustment,
)
from chalicelib.catalogue.service import catalogue
from chalicelib.core.auth import ADMIN_GROUP, caller, register_caller_check
from chalicelib.core.health import check_health
from chalicelib.core.http import (
    body,
    current_request,
    header,
    http_middleware,
    query,
    respond,
)
from chalicelib.core.messages import batch_response, consume, handle_event
from chalicelib.core.models import PageQuery
from chalicelib.core.observability import observe
from chalicelib.housekeeping.service import sweep
from chalicelib.notifications.service import NOTIFIED_EVENTS, notification_service
from chalicelib.orders.checkout import checkout_service
from chalicelib.orders.models import (
    AdminOrderQuery,
    CheckoutRequest,
    OrderListQuery,
    StatusChange,
)
from chalicelib.orders.pipeline import create_orders
from chalicelib.orders.service import order_service
from chalicelib.payments.service import payment_service
from chalicelib.users.auth import auth_service
from chalicelib.users.models import (
    AddressIn,
    ConfirmRequest,
    ForgotPasswordRequest,
    LoginRequest,
    ProfilePatch,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
    UserListQuery,
    UserStatusChange,
)
from chalicelib.users.personal_data import register_eraser, register_exporter
from chalicelib.users.service import refuse_inactive_users, users

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


# --- health ---------------------------------------------------------------------------

@app.route("/health", methods=["GET"])
def health():
    return check_health()


# --- auth -----------------------------------------------------------------------------

@app.route("/auth/register", methods=["POST"])
def register():
    return respond(auth_service().register(body(RegisterRequest)), status=201)


@app.route("/auth/confirm", methods=["POST"])
def confirm_registration():
    auth_service().confirm(body(ConfirmRequest))
    return respond(status=204)


@app.route("/auth/login", methods=["POST"])
def login():
    return respond(auth_service().login(body(LoginRequest)))


@app.route("/auth/refresh", methods=["POST"])
def refresh_tokens():
    return respond(auth_service().refresh(body(RefreshRequest)))


@app.route("/auth/forgot-password", methods=["POST"])
def forgot_password():
    auth_service().forgot_password(body(ForgotPasswordRequest))
    return respond({"status": "If the account exists, a reset code has been sent."}, status=202)


@app.route("/auth/reset-password", methods=["POST"])
def reset_password():
    auth_service().reset_password(body(ResetPasswordRequest))
    return respond(status=204)


# --- me -------------------------------------------------------------------------------

@app.route("/me", methods=["GET"], authorizer=cognito)
def get_me():
    return respond(users().me(caller()))


@app.route("/me", methods=["PATCH"], authorizer=cognito)
def update_me():
    return respond(users().update_me(caller(), body(ProfilePatch)))


@app.route("/me", methods=["DELETE"], authorizer=cognito)
def erase_me():
    users().erase(caller(allow_inactive=True))
    return respond(status=204)


@app.route("/me/export", methods=["GET"], authorizer=cognito)
def export_me():
    return users().export(caller())


@app.route("/me/notifications", methods=["GET"], authorizer=cognito)
def list_notifications():
    return page(notification_service().feed(caller().user_id, query(PageQuery)))


@app.route("/me/notifications/{notification_id}/read", methods=["POST"], authorizer=cognito)
def mark_notification_read(notification_id):
    return respond(notification_service().mark_read(caller().user_id, notification_id))


@app.route("/me/addresses", methods=["GET"], authorizer=cognito)
def list_addresses():
    return {"items": [a.model_dump(mode="json", by_alias=True) for a in users().addresses(caller())]}


@app.route("/me/addresses", methods=["POST"], authorizer=cognito)
def add_address():
    return respond(users().add_address(caller(), body(AddressIn)), status=201)


@app.route("/me/addresses/{address_id}", methods=["PUT"], authorizer=cognito)
def replace_address(address_id):
    return respond(users().replace_address(caller(), address_id, body(AddressIn)))


@app.route("/me/addresses/{address_id}", methods=["DELETE"], authorizer=cognito)
def delete_address(address_id):
    users().delete_address(caller(), address_id)
    return respond(status=204)


# --- catalogue ------------------------------------------------------------------------

@app.route("/products", methods=["GET"])
def list_products():
    return page(catalogue().list(query(ProductListQuery)))


@app.route("/products/{product_id}", methods=["GET"])
def get_product(product_id):
    return respond(catalogue().get(product_id))


@app.route("/products", methods=["POST"], authorizer=cognito)
def create_product():
    staff = caller(require_group=ADMIN_GROUP)
    return respond(catalogue().create(body(ProductCreate), actor=staff.user_id), status=201)


@app.route("/products/{product_id}", methods=["PATCH"], authorizer=cognito)
def update_product(product_id):
    staff = caller(require_group=ADMIN_GROUP)
    return respond(catalogue().update(product_id, body(ProductPatch), actor=staff.user_id))


@app.route("/products/{product_id}", methods=["DELETE"], authorizer=cognito)
def archive_product(product_id):
    staff = caller(require_group=ADMIN_GROUP)
    return respond(catalogue().archive(product_id, actor=staff.user_id))


@app.route("/products/{product_id}/stock", methods=["POST"], authorizer=cognito)
def adjust_stock(product_id):
    staff = caller(require_group=ADMIN_GROUP)
    return respond(catalogue().adjust_stock(product_id, body(StockAdjustment), actor=staff.user_id))


# --- admin: users ---------------------------------------------------------------------

@app.route("/admin/users", methods=["GET"], authorizer=cognito)
def admin_list_users():
    caller(require_group=ADMIN_GROUP)
    return page(users().list_users(query(UserListQuery)))


@app.route("/admin/users/{user_id}", methods=["PATCH"], authorizer=cognito)
def admin_set_user_status(user_id):
    staff = caller(require_group=ADMIN_GROUP)
    return respond(users().set_status(staff, user_id, body(UserStatusChange)))


# --- basket and checkout --------------------------------------------------------------

@app.route("/basket", methods=["GET"], authorizer=cognito)
def get_basket():
    return respond(basket_service().view(caller().user_id))


@app.route("/basket/items/{product_id}", methods=["PUT"], authorizer=cognito)
def set_basket_item(product_id):
    who = caller()
    return respond(basket_service().set_quantity(who.user_id, product_id, body(QuantityChange).quantity))


@app.route("/basket/items/{product_id}", methods=["DELETE"], authorizer=cognito)
def remove_basket_item(product_id):
    basket_service().set_quantity(caller().user_id, product_id, 0)
    return respond(status=204)


@app.route("/basket", methods=["DELETE"], authorizer=cognito)
def clear_basket():
    basket_service().clear(caller().user_id)
    return respond(status=204)


@app.route("/basket/checkout", methods=["POST"], authorizer=cognito)
def checkout():
    who = caller()
    accepted = checkout_service().checkout(who, header("Idempotency-Key"), body(CheckoutRequest))
    return respond(accepted, status=202)


# --- orders ---------------------------------------------------------------------------

@app.route("/orders", methods=["GET"], authorizer=cognito)
def list_orders():
    return page(order_service().list_own(caller(), query(OrderListQuery)))


@app.route("/orders/{order_id}", methods=["GET"], authorizer=cognito)
def get_order(order_id):
    return respond(order_service().get_for(caller(), order_id))


@app.route("/orders/{order_id}/cancel", methods=["POST"], authorizer=cognito)
def cancel_order(order_id):
    return respond(order_service().cancel_own(caller(), order_id))


@app.route("/admin/orders", methods=["GET"], authorizer=cognito)
def admin_list_orders():
    caller(require_group=ADMIN_GROUP)
    return page(order_service().list_by_status(query(AdminOrderQuery)))


@app.route("/admin/orders/{order_id}/status", methods=["POST"], authorizer=cognito)
def admin_set_order_status(order_id):
    staff = caller(require_group=ADMIN_GROUP)
    return respond(order_service().set_status(staff, order_id, body(StatusChange)))


@app.route("/admin/audit", methods=["GET"], authorizer=cognito)
def admin_audit():
    caller(require_group=ADMIN_GROUP)
    return page(audit_service().query(query(AuditQuery)))


# --- payments (public: authenticated by the provider's signature) ----------------------

@app.route("/webhooks/payments", methods=["POST"])
def payment_webhook():
    return respond(payment_service().receive(current_request().raw_body or b"", header("X-Signature")))


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
    return sweep()
