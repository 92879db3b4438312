"""Routes of the catalogue: products anyone may read, and what staff do to them."""
from __future__ import annotations

from chalicelib.catalogue import models
from chalicelib.composition import services
from chalicelib.core.http import body, caller, doc, page, query, respond
from chalicelib.core.routing import Routes

routes = Routes(__name__)


@routes.route("/products", methods=["GET"])
@doc("Active products, by name, optionally of one category", "public",
     query=models.ProductListQuery, returns=models.Product, paged=True)
def list_products():
    return page(services().catalogue.list(query(models.ProductListQuery)))


@routes.route("/products/{product_id}", methods=["GET"])
@doc("One product (archived ones too)", "public", returns=models.Product)
def get_product(product_id):
    return respond(services().catalogue.get(product_id))


@routes.route("/products", methods=["POST"])
@doc("Create a product", "admin", body=models.ProductCreate, returns=models.Product, status=201)
def create_product():
    return respond(services().catalogue.create(body(models.ProductCreate), actor=caller().user_id), status=201)


@routes.route("/products/{product_id}", methods=["PATCH"])
@doc("Edit a product (optimistic locking on version)", "admin", body=models.ProductPatch, returns=models.Product,
     errors=(409,))
def update_product(product_id):
    return respond(services().catalogue.update(product_id, body(models.ProductPatch), actor=caller().user_id))


@routes.route("/products/{product_id}", methods=["DELETE"])
@doc("Archive a product (kept for past orders)", "admin", returns=models.Product)
def archive_product(product_id):
    return respond(services().catalogue.archive(product_id, actor=caller().user_id))


@routes.route("/products/{product_id}/stock", methods=["POST"])
@doc("Adjust the stock of a product of one variant by a delta, never below zero", "admin",
     body=models.StockAdjustment, returns=models.Product, errors=(400, 409))
def adjust_stock(product_id):
    return respond(services().catalogue.adjust_stock(product_id, body(models.StockAdjustment), actor=caller().user_id))


@routes.route("/products/{product_id}/variants", methods=["POST"])
@doc("Add a variant (its SKU unique across the shop)", "admin", body=models.VariantCreate, returns=models.Variant,
     status=201, errors=(409,))
def add_variant(product_id):
    return respond(services().catalogue.add_variant(product_id, body(models.VariantCreate), actor=caller().user_id),
                   status=201)


@routes.route("/products/{product_id}/variants/{variant_id}", methods=["PATCH"])
@doc("Edit a variant's prices, SKU, status or how many stock items its stock is spread over (`stockShards`, 1-50: "
     "a drop's), with optimistic locking on its version", "admin",
     body=models.VariantPatch, returns=models.Variant, errors=(409,))
def update_variant(product_id, variant_id):
    return respond(services().catalogue.update_variant(product_id, variant_id, body(models.VariantPatch),
                                                       actor=caller().user_id))


@routes.route("/products/{product_id}/variants/{variant_id}/stock", methods=["POST"])
@doc("Adjust a variant's stock by a delta, never below zero", "admin", body=models.StockAdjustment,
     returns=models.Variant, errors=(409,))
def adjust_variant_stock(product_id, variant_id):
    return respond(services().catalogue.adjust_variant_stock(product_id, variant_id, body(models.StockAdjustment),
                                                             actor=caller().user_id))


@routes.route("/products/{product_id}/images", methods=["POST"])
@doc("Start an image upload: a presigned POST to S3 for exactly this type and length, valid 10 minutes; "
     "the image is PENDING until its bytes are checked (at most 10 per product)", "admin",
     body=models.ImageUploadRequest, returns=models.ImageUpload, status=201, errors=(409,))
def request_image_upload(product_id):
    return respond(services().images.request_upload(product_id, body(models.ImageUploadRequest)), status=201)


@routes.route("/products/{product_id}/images", methods=["GET"])
@doc("Every image of a product, pending and rejected ones too (public reads show READY ones)", "admin",
     returns=models.ProductImage, paged=True)
def list_product_images(product_id):
    from chalicelib.core.dynamo import Page

    return page(Page(items=services().catalogue.read(product_id).images))


@routes.route("/products/{product_id}/images/{image_id}", methods=["DELETE"])
@doc("Remove an image from a product, and its file", "admin", status=204, errors=(409,))
def delete_product_image(product_id, image_id):
    services().images.remove(product_id, image_id)
    return respond(status=204)
