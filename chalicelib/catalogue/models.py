"""Catalogue wire models: what clients send and what they get back."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.models import (
    ApiModel,
    Currency,
    PageQuery,
    Price,
    SchemaHint,
    TaxClass,
    Text,
    Timestamp,
    one_of_each,
)

Category = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,49}$"), SchemaHint(maxLength=50)]
Stock = Annotated[int, Field(ge=0, le=1_000_000)]
StockShards = Annotated[int, Field(ge=1, le=50)]  # stock.MAX_STOCK_SHARDS
ProductStatus = Literal["ACTIVE", "ARCHIVED"]


MAX_OPTIONS, MAX_OPTION_VALUES, MAX_VARIANTS, MAX_CURRENCIES = 3, 20, 100, 20
OptionName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30,
                                              pattern=r"^[^\x00-\x1f\x7f]+$")]
OptionValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50,
                                               pattern=r"^[^\x00-\x1f\x7f]+$")]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$"), SchemaHint(maxLength=64)]
VariantStatus = Literal["ACTIVE", "ARCHIVED"]


class ProductOption(ApiModel):
    """What a product's variants differ in (`Size`), and the values it takes (`S`, `M`, `L`)."""

    name: OptionName
    values: Annotated[list[OptionValue], Field(min_length=1, max_length=MAX_OPTION_VALUES)]

    @model_validator(mode="after")
    def _values_one_of_a_kind(self) -> "ProductOption":
        one_of_each([value.casefold() for value in self.values], f"the values of option {self.name}")
        return self


class VariantPrice(ApiModel):
    """What one unit costs in one currency, in its minor unit."""

    currency: Currency
    amount: Price


Prices = Annotated[list[VariantPrice], Field(min_length=1, max_length=MAX_CURRENCIES)]


def _check_prices(prices: list[VariantPrice]) -> None:
    one_of_each([price.currency for price in prices], "a variant's price currencies")


class VariantCreate(ApiModel):
    """A variant to add: its SKU, its value of each of the product's options, its prices and first stock."""

    sku: Sku
    options: Annotated[dict[OptionName, OptionValue], Field(max_length=MAX_OPTIONS)] = {}
    prices: Prices
    stock: Stock = 0

    @model_validator(mode="after")
    def _prices_one_per_currency(self) -> "VariantCreate":
        _check_prices(self.prices)
        return self


class ProductCreate(ApiModel):
    """A new product: with `options` and `variants`, or the shorthand `price`, `currency`, `stock`, which
    makes one variant with no options."""

    name: Text(200)
    description: Text(2000, min_length=0) = ""
    category: Category
    tax_class: TaxClass = "standard"
    options: Annotated[list[ProductOption], Field(max_length=MAX_OPTIONS)] = []
    variants: Annotated[list[VariantCreate], Field(max_length=MAX_VARIANTS)] = []
    price: Price | SkipJsonSchema[None] = None
    currency: Currency | SkipJsonSchema[None] = None
    stock: Stock = 0
    low_stock_threshold: Stock | None = None  # staff are told when a variant's stock falls below it

    @field_validator("options")
    @classmethod
    def _option_names_one_of_a_kind(cls, options: list[ProductOption]) -> list[ProductOption]:
        one_of_each([option.name.casefold() for option in options], "option names")
        return options

    @field_validator("variants")
    @classmethod
    def _variants_fit_the_options(cls, variants: list[VariantCreate], info: ValidationInfo) -> list[VariantCreate]:
        if variants and "options" in info.data:  # (options that were refused are said already)
            check_variants(info.data["options"], variants)
        return variants

    @model_validator(mode="after")
    def _variants_or_shorthand(self) -> "ProductCreate":
        shorthand = [name for name in ("price", "currency") if getattr(self, name) is not None]
        if not self.variants:
            if len(shorthand) < 2:
                raise ValueError("either variants, or price and currency, are required")
            if self.options:
                raise ValueError("options need variants")
        elif shorthand or "stock" in self.model_fields_set:
            raise ValueError("give variants, or price, currency and stock, not both")
        return self

    def variant_specs(self) -> list[VariantCreate]:
        """The variants to make: those given, or the shorthand's one."""
        if self.variants:
            return self.variants
        return [VariantCreate.model_construct(sku=None, options={}, stock=self.stock,
                                              prices=[VariantPrice(currency=self.currency, amount=self.price)])]


def check_variants(options: list[ProductOption], variants: list[VariantCreate]) -> None:
    """Each variant names a value of every option and nothing else; no two variants are alike; SKUs differ."""
    declared = {option.name: {value.casefold() for value in option.values} for option in options}
    for variant in variants:
        missing = sorted(set(declared) - set(variant.options))
        unknown = sorted(set(variant.options) - set(declared))
        if missing or unknown:
            raise ValueError(f"variant {variant.sku}: " + "; ".join(
                ([f"no value for option {', '.join(missing)}"] if missing else []) +
                ([f"no such option {', '.join(unknown)}"] if unknown else [])))
        wrong = [name for name, value in variant.options.items() if value.casefold() not in declared[name]]
        if wrong:
            name = wrong[0]
            raise ValueError(f"variant {variant.sku}: {name} {variant.options[name]!r} is not one of its values")
    one_of_each([combination(variant.options) for variant in variants], "variants' options")
    one_of_each([variant.sku for variant in variants], "SKUs")


def combination(options: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """What tells a variant from its siblings: its option values, named, in name order, case aside."""
    return tuple(sorted((name, value.casefold()) for name, value in options.items()))


class ProductPatch(ApiModel):
    """Editable fields plus the version the editor last saw (optimistic locking). Prices are each variant's
    (`PATCH /products/{id}/variants/{variant_id}`)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 2})  # the version and one change at least
    # Every field may be left out, none may be null (refused below), so the schema does not offer null.
    name: Text(200) | SkipJsonSchema[None] = None
    description: Text(2000, min_length=0) | SkipJsonSchema[None] = None
    category: Category | SkipJsonSchema[None] = None
    tax_class: TaxClass | SkipJsonSchema[None] = None
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


class VariantPatch(ApiModel):
    """A variant's editable fields plus the version the editor last saw."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 2})
    prices: Prices | SkipJsonSchema[None] = None
    sku: Sku | SkipJsonSchema[None] = None
    status: VariantStatus | SkipJsonSchema[None] = None
    stock_shards: StockShards | SkipJsonSchema[None] = None  # spread its stock over this many items (1-50)
    version: Annotated[int, Field(ge=1), SchemaHint(maximum=2**31 - 1)]

    @model_validator(mode="after")
    def _has_changes_and_no_nulls(self) -> "VariantPatch":
        if not self.changes():
            raise ValueError("at least one of prices, sku, status and stockShards is required")
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"fields cannot be null: {', '.join(sorted(nulls))}")
        if self.prices is not None:
            _check_prices(self.prices)
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


class Variant(ApiModel):
    """One thing sold: its SKU (none for a product's one variant made without), its option values, its
    prices, its stock, whether it is sold (`ACTIVE`), and its version (optimistic locking of its edits)."""

    id: str
    sku: str | None = None
    options: dict[str, str] = {}
    prices: list[VariantPrice]
    stock: int | None = None  # None in listings (which say `inStock`); a product read alone has it
    status: VariantStatus
    version: int
    # How many stock items its stock is spread over, so a busy sale's writes spread (chalicelib/catalogue/stock.py).
    stock_shards: StockShards = 1
    # How it is stored, never shown: how many stock items it has (retired ones included), what each held when read.
    stock_items: SkipJsonSchema[int] = Field(default=1, exclude=True)
    held: SkipJsonSchema[dict[int, int] | None] = Field(default=None, exclude=True)

    def price_in(self, currency: str) -> int | None:
        return next((price.amount for price in self.prices if price.currency == currency), None)


class PriceRange(ApiModel):
    """The lowest and highest price of a product's active variants in one currency."""

    currency: str
    low: int
    high: int


class Product(ApiModel):
    id: str
    name: str
    description: str
    category: str
    tax_class: str = "standard"
    options: list[ProductOption] = []
    variants: list[Variant]
    low_stock_threshold: int = 5
    status: ProductStatus
    version: int
    created_at: Timestamp
    updated_at: Timestamp
    # READY images on public reads; every image (pending and rejected too) on staff reads.
    images: list[ProductImage] = []
    # Listings: the price range in the listing's currency (None: no active variant priced in it), and
    # whether any active variant has stock.
    price_range: PriceRange | None = None
    in_stock: bool = False

    def variant(self, variant_id: str) -> Variant | None:
        return next((variant for variant in self.variants if variant.id == variant_id), None)

    def holding(self, held: dict[str, dict[int, int]]) -> "Product":
        """The product with these variants' stock as read again (`Variant.held` and its sum)."""
        return self.model_copy(update={"variants": [
            variant.model_copy(update={"held": held[variant.id], "stock": sum(held[variant.id].values())})
            if variant.id in held else variant for variant in self.variants]})

    def has_stock(self) -> bool:
        """Whether the product is sold and some active variant has stock (read from its sale records)."""
        return self.status == "ACTIVE" and any((variant.stock or 0) > 0 for variant in self.variants
                                               if variant.status == "ACTIVE")


class ProductListQuery(PageQuery):
    category: Category | None = None
    currency: Currency | None = None  # the currency of each product's price range (default: the shop's)
