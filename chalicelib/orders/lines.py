"""Units of an order's lines as the API names them: in refunds' restocks, returns and shipments."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.lines import Lines
from chalicelib.core.models import ApiModel

MAX_ORDER_LINES = 50  # an order holds at most this many lines

# An id as the catalogue's paths take it: one URL segment (`^[^/]+$`, as every `{product_id}`).
CatalogueId = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[^/]+$")]


class LineUnits(ApiModel):
    """Units of one variant of an order's line. `variantId` names it (its product follows from it); a line naming
    only `productId` is of that product's default variant (a product of one variant, or an order from before
    variants)."""

    product_id: CatalogueId | SkipJsonSchema[None] = None
    variant_id: CatalogueId | SkipJsonSchema[None] = None
    quantity: Annotated[int, Field(ge=1, le=1000)]

    @model_validator(mode="after")
    def _names_a_variant(self) -> LineUnits:
        from chalicelib.catalogue.keys import product_of

        if self.variant_id is None and self.product_id is None:
            raise ValueError("variantId (or productId) is required")
        if self.variant_id is None:
            self.variant_id = self.product_id  # its default variant's id is the product's
        elif self.product_id is not None and product_of(self.variant_id) != self.product_id:
            raise ValueError("the variant is not of that product")
        self.product_id = product_of(self.variant_id)
        return self


def each_variant_once(lines: list[LineUnits]) -> Lines:
    """The units `lines` name, as every domain passes them; a variant named twice is refused."""
    units = Lines.of(lines)
    if len(units) != len(lines):
        raise ValueError("lines name each product once")
    return units


def line_units(units: Lines) -> list[LineUnits]:
    """The wire lines of `units`, in their order."""
    return [LineUnits(product_id=line.product_id, variant_id=line.key, quantity=line.quantity) for line in units]
