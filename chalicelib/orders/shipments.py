"""Shipment wire models: parcels of an order's units, with the carrier and tracking the customer follows."""
from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.lines import Lines
from chalicelib.core.models import ApiModel, SchemaHint, Timestamp
from chalicelib.orders.lines import MAX_ORDER_LINES, LineUnits, each_variant_once

ShipmentStatus = Literal["SHIPPED", "DELIVERED"]
# Shipments one order may have: they live on the order's item, which stays small (DynamoDB's 400 KB is far off).
MAX_SHIPMENTS = 50

# One line of printable text (no control characters at all, tabs and newlines included).
_ONE_LINE = r"^[^\u0000-\u001F\u007F]+$"
Carrier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=_ONE_LINE)]
TrackingNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                                  pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/-]*$")]


def _https_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise ValueError("must be an https URL with a host (and no credentials)")
    return url


TrackingUrl = Annotated[str, StringConstraints(max_length=500, pattern=r"^https://[^\s\u0000-\u001F\u007F]+$"),
                        AfterValidator(_https_url), SchemaHint(format="uri")]


class ShipmentRequest(ApiModel):
    """A parcel handed to a carrier: `lines` (every unit not yet shipped if absent), its carrier and tracking."""

    lines: Annotated[list[LineUnits], Field(min_length=1, max_length=MAX_ORDER_LINES)] | SkipJsonSchema[None] = None
    carrier: Carrier
    tracking_number: TrackingNumber
    tracking_url: TrackingUrl | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _each_variant_once(self) -> ShipmentRequest:
        if self.lines is not None:
            each_variant_once(self.lines)
        return self

    @property
    def units(self) -> Lines | None:
        """The units asked to ship, as every domain passes them; None: everything not yet shipped."""
        return None if self.lines is None else Lines.of(self.lines)


class Shipment(ApiModel):
    """A parcel of the order's units. One the status route made (`{"status": "SHIPPED"}`: everything not yet
    shipped) names no carrier or tracking: that route takes none."""

    id: str
    lines: list[LineUnits]
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    status: ShipmentStatus = "SHIPPED"
    shipped_at: Timestamp
    delivered_at: Timestamp | None = None
    # What identifies the request that made it (its Idempotency-Key answers it again), kept on the order only.
    request_hash: SkipJsonSchema[str | None] = Field(default=None, exclude=True)

    @property
    def units(self) -> Lines:
        return Lines.of(self.lines)

    def stored(self) -> dict:
        """The shipment as the order's item keeps it."""
        return {**self.model_dump(mode="json", exclude_none=True),
                **({"request_hash": self.request_hash} if self.request_hash else {})}
