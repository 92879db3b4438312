"""The shop's API: every route and event handler, each a few lines that parse and delegate."""
import os

from chalice import Chalice, CognitoUserPoolAuthorizer

from chalicelib.catalogue.models import ProductCreate, ProductListQuery, ProductPatch, StockAdjustment
from chalicelib.catalogue.service import catalogue
from chalicelib.core.auth import ADMIN_GROUP, caller
from chalicelib.core.health import check_health
from chalicelib.core.http import body, http_middleware, query, respond
from chalicelib.users.auth import auth_service
from chalicelib.users.models import LoginRequest, RefreshRequest

app = Chalice(app_name="shop")
app.register_middleware(http_middleware(app), "http")

# The deployed template binds the real pool ARN (see .chalice/resources.json).
cognito = CognitoUserPoolAuthorizer(
    "ShopUsers", provider_arns=[os.environ.get(
        "USER_POOL_ARN", "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_shop")])


def page(result):
    return {"items": [item.model_dump(mode="json", by_alias=True) for item in result.items],
            "nextCursor": result.next_cursor}


# --- health ---------------------------------------------------------------------------

@app.route("/health", methods=["GET"])
def health():
    return check_health()


# --- auth -----------------------------------------------------------------------------

@app.route("/auth/login", methods=["POST"])
def login():
    return respond(auth_service().login(body(LoginRequest)))


@app.route("/auth/refresh", methods=["POST"])
def refresh_tokens():
    return respond(auth_service().refresh(body(RefreshRequest)))


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
