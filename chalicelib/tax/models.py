"""Tax wire models: a rate per zone and tax class."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainSerializer

from chalicelib.core.models import ApiModel, SchemaHint, TaxClass, Timestamp, Zone


def _exact(rate: float) -> Decimal:
    """The rate as written (7.25, not the binary float nearest it), with at most three decimals."""
    exact = Decimal(repr(rate))
    if exact != exact.quantize(Decimal("0.001")):
        raise ValueError("must have at most 3 decimal places")
    return exact


def _shown(rate: Decimal) -> int | float:
    return int(rate) if rate == rate.to_integral_value() else float(rate)


# A rate in percent, 0-100 with up to three decimals (7.25): a number on the wire, exact (a Decimal) in the shop.
RatePercent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False), AfterValidator(_exact),
                        PlainSerializer(lambda rate, info: _shown(rate) if info.mode_is_json() else rate,
                                        return_type=Any),
                        SchemaHint(type="number", multipleOf=0.001)]


class TaxRateIn(ApiModel):
    rate_percent: RatePercent


class TaxRate(ApiModel):
    zone: Zone
    tax_class: TaxClass
    rate_percent: RatePercent
    updated_at: Timestamp


class TaxRates(ApiModel):
    """Every rate, by zone then tax class."""

    items: list[TaxRate]


class TaxLine(ApiModel):
    """Tax of one class at one rate, over the lines (and shipping) charged at it."""

    tax_class: str
    rate_percent: RatePercent
    amount: int
