"""Events of tax rates: every change staff make, for the audit trail."""
from __future__ import annotations

from chalicelib.core.events import EventData


class _TaxRateEvent(EventData):
    entity_type = "TAXRATE"
    entity_id_field = "rate"
    rate: str  # "<zone>/<tax class>"
    zone: str
    tax_class: str


class TaxRateSet(_TaxRateEvent):
    rate_percent: str  # exact, as a decimal string ("7.25")
    previous_percent: str | None = None  # None: the zone had no rate for the class


class TaxRateRemoved(_TaxRateEvent):
    previous_percent: str
