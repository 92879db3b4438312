"""Routes of tax: the rates staff set per zone and tax class (shoppers see tax on their basket and orders)."""
from __future__ import annotations

from chalicelib.composition import services
from chalicelib.core.http import body, caller, doc, respond
from chalicelib.core.routing import Routes
from chalicelib.tax.models import TaxRate, TaxRateIn, TaxRates

routes = Routes(__name__)


@routes.route("/admin/tax-rates", methods=["GET"])
@doc("Every tax rate, by zone and tax class", "admin", returns=TaxRates)
def list_tax_rates():
    return respond(services().tax.every_rate())


@routes.route("/admin/tax-rates/{zone}/{tax_class}", methods=["PUT"])
@doc("Set the rate of a tax class in a zone (an ISO 3166-1 country, DE, or ISO 3166-2 subdivision, US-CA): the "
     "most specific zone with a rate for a line's class applies, none is 0 %", "admin", body=TaxRateIn,
     returns=TaxRate, errors=(422,))
def set_tax_rate(zone, tax_class):
    return respond(services().tax.set_rate(zone, tax_class, body(TaxRateIn), actor=caller().user_id))


@routes.route("/admin/tax-rates/{zone}/{tax_class}", methods=["DELETE"])
@doc("Remove the rate of a tax class in a zone", "admin", status=204, errors=(404, 422))
def remove_tax_rate(zone, tax_class):
    services().tax.remove_rate(zone, tax_class, actor=caller().user_id)
    return respond(status=204)
