"""Catalogue wire models: what clients send and what they get back."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.models import ApiModel, Currency, PageQuery, Price, SchemaHint, Text, Timestamp

Category = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,49}$"), SchemaHint(maxLength=50)]
Stock = Annotated[int, Field(ge=0, le=1_000_000)]
ProductStatus = Literal["ACTIVE", "ARCHIVED"]


class ProductCreate(ApiModel):
    name: Text(200)
    description: Text(2000, min_length=0) = ""
    category: Category
    price: Price
    currency: Currency
    stock: Stock = 0
    low_stock_threshold: Stock | None = None  # staff are told when stock falls below it


class ProductPatch(ApiModel):
    """Editable fields plus the version the editor last saw (optimistic locking)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 2})  # the version and one change at least
    # Every field may be left out, none may be null (refused below), so the schema does not offer null.
    name: Text(200) | SkipJsonSchema[None] = None
    description: Text(2000, min_length=0) | SkipJsonSchema[None] = None
    category: Category | SkipJsonSchema[None] = None
    price: Price | SkipJsonSchema[None] = None
    currency: Currency | SkipJsonSchema[None] = None
    low_stock_threshold: Stock | SkipJsonSchema[None] = None
    version: Annotated[int, Field(ge=1), SchemaHint(maximum=2**31 - 1)]  # the schema bounds what clients send

    @model_validator(mode="after")
    def _has_changes_and_no_nulls(self) -> "ProductPatch":
        changed = self.changes()
        if not changed:
            raise ValueError("at least one editable field is required")
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"fields cannot be null: {', '.join(sorted(nulls))}")
        return self

    def changes(self) -> dict:
        return {name: getattr(self, name) for name in self.model_fields_set if name != "version"}


class StockAdjustment(ApiModel):
    delta: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
    reason: Text(200)

    @model_validator(mode="after")
    def _nonzero(self) -> "StockAdjustment":
        if self.delta == 0:
            raise ValueError("delta must not be zero")
        return self


ImageContentType = Literal["image/jpeg", "image/png", "image/webp"]
ImageStatus = Literal["PENDING", "READY", "REJECTED"]
MAX_IMAGE_BYTES = 5 * 1024 * 1024


class ImageUploadRequest(ApiModel):
    """What staff are about to upload: the presigned POST admits exactly this type and length."""

    content_type: ImageContentType
    content_length: Annotated[int, Field(ge=1, le=MAX_IMAGE_BYTES)]


class PresignedPost(ApiModel):
    """Where the browser posts the file: a multipart form with `fields` first, then the file as `file`."""

    url: str
    fields: dict[str, str]


class ImageUpload(ApiModel):
    image_id: str
    upload: PresignedPost
    expires_at: Timestamp


class ProductImage(ApiModel):
    """An image of a product; `url` once it is READY, `reason` when it was REJECTED."""

    id: str
    url: str | None = None
    content_type: ImageContentType
    status: ImageStatus
    reason: str | None = None
    created_at: Timestamp


class Product(ApiModel):
    id: str
    name: str
    description: str
    category: str
    price: int
    currency: str
    stock: int
    low_stock_threshold: int = 5
    status: ProductStatus
    version: int
    created_at: Timestamp
    updated_at: Timestamp
    # READY images on public reads; every image (pending and rejected too) on staff reads.
    images: list[ProductImage] = []


class ProductListQuery(PageQuery):
    category: Category | None = None
