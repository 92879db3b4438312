"""Model building blocks shared by every domain: wire conventions, money, paging."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timezone
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from chalicelib.core.ids import iso

if TYPE_CHECKING:
    from chalicelib.core.lines import Line

# ISO 4217 codes in circulation (funds and precious-metal codes left out on purpose).
ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES
VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
""".split())

# Amounts are integers in the currency's minor unit, as its ISO 4217 exponent says: 1000 is ¥1000 in JPY (0),
# €10.00 in EUR (2), 1.000 BHD in BHD (3). MAX_PRICE bounds one unit's price; MAX_AMOUNT every other amount
# on the wire (totals, payments, refunds, thresholds): the largest integer every JSON client reads exactly
# (2**53 - 1), far above any order total the checkout accepts (settings().max_order_total, bounded by it).
# A unit may cost what a whole order may (the default MAX_ORDER_TOTAL): a car priced in IDR (2) or VND (0)
# runs to 10**10 minor units and more. 50 lines of 99 units at this price still sum below MAX_AMOUNT.
MAX_PRICE = 100_000_000_000  # minor units: a thousand million in a two-decimal currency
MAX_AMOUNT = 2**53 - 1
# ISO 4217 exponents other than 2 (minor units per major unit: 10 ** exponent), for currencies in ISO_4217.
EXPONENTS = {**dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
             **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3)}


# JSON a client sends is nested at most this deep (arrays and objects inside one another): far beyond any
# body or token the API takes, and far below the depth at which parsing it would exhaust the stack.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_A_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")


class JsonTooDeep(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH."""


def load_json(raw: bytes | str) -> Any:
    """JSON text from outside, parsed only if it is nested at most MAX_JSON_DEPTH deep (JsonTooDeep if not);
    ValueError (or UnicodeDecodeError) for anything that is not JSON, NaN and Infinity included."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    depth = 0
    # Brackets inside strings are text, not structure: strings are taken out before counting.
    for bracket in _JSON_STRING.sub(b'""', data).translate(None, _NOT_A_BRACKET):
        depth = depth + 1 if bracket in b"[{" else max(depth - 1, 0)
        if depth > MAX_JSON_DEPTH:
            raise JsonTooDeep(f"nested more than {MAX_JSON_DEPTH} levels deep")
    return json.loads(data, parse_constant=_not_json)


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class SchemaHint:
    """Keywords added to a type's JSON schema (OpenAPI) to say what its validators enforce; validation
    itself is unchanged. E.g. `Annotated[str, SchemaHint(format="date-time")]`."""

    def __init__(self, **keywords: Any):
        self.keywords = keywords

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(core_schema), **self.keywords}


def _known_currency(code: str) -> str:
    if code not in ISO_4217:
        raise ValueError("must be an ISO 4217 currency code")
    return code


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency),
                     SchemaHint(enum=sorted(ISO_4217))]
Price = Annotated[int, Field(ge=0, le=MAX_PRICE)]
Money = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]


def allocate(amount: int, weights: list[int]) -> list[int]:
    """`amount` split in proportion to `weights`, in whole minor units summing to it exactly: each share rounded
    down, then the units left over given one each to the largest remainders (the earliest on a tie)."""
    whole = sum(weights)
    if whole <= 0:
        if amount:
            raise ValueError("nothing to allocate in proportion to")
        return [0] * len(weights)
    shares = [amount * weight // whole for weight in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % whole), i))
    for i in by_remainder[:amount - sum(shares)]:
        shares[i] += 1
    return shares


def one_of_each(values: list[Any], what: str) -> None:
    """ValueError (a validator's refusal) naming the first of `values` that is repeated."""
    seen: set[Any] = set()
    doubled = [value for value in values if value in seen or seen.add(value)]
    if doubled:
        raise ValueError(f"{what} must be one of a kind: {doubled[0]!r} is repeated")


def exponent(currency: str) -> int:
    """Digits after the decimal point in `currency` (ISO 4217)."""
    return EXPONENTS.get(currency, 2)


def shown(amount: int, currency: str) -> str:
    """An amount in minor units as people read it: `shown(123456, "EUR")` is "1,234.56 EUR"."""
    digits = exponent(currency)
    major, minor = divmod(abs(amount), 10**digits)
    text = f"{major:,}" + (f".{minor:0{digits}d}" if digits else "")
    return f"{'-' if amount < 0 else ''}{text} {currency}"


def _no_control_chars(text: str) -> str:
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise ValueError("must not contain control characters")
    return text


def exactly_one_of(*fields: str) -> Any:
    """A model's `json_schema_extra` for "exactly one of these fields" (its validator enforces it): one
    complete object schema per field, as `oneOf`, so clients generated from the document get each shape."""
    def extra(schema: dict[str, Any], model: type[BaseModel]) -> None:
        properties = schema.pop("properties")
        schema.pop("additionalProperties", None)
        schema["oneOf"] = []
        for name in fields:
            alias = model.model_fields[name].alias or name
            schema["oneOf"].append({"type": "object", "title": f"{model.__name__}With{alias[:1].upper()}{alias[1:]}",
                                    "required": [alias], "properties": {alias: properties[alias]},
                                    "additionalProperties": False})
    return extra


# What `_no_control_chars` admits, as a JSON-schema pattern.
NO_CONTROL_CHARS = r"^[^\u0000-\u0008\u000B-\u001F]*$"


def Text(max_length: int, min_length: int = 1) -> Any:
    """Trimmed text with bounded length and no control characters."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length,
                                            max_length=max_length),
                     AfterValidator(_no_control_chars), SchemaHint(pattern=NO_CONTROL_CHARS)]


# Timestamps on the wire: ISO 8601 UTC with milliseconds (core/ids.iso), as the server writes them.
Timestamp = Annotated[str, SchemaHint(format="date-time", maxLength=30)]


def utc_bound(value, *, end: bool):
    """Accept a date (whole day) or an ISO datetime; answer an ISO UTC string for sort keys."""
    if value in (None, ""):
        return None
    text = str(value)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.max if end else time.min, tzinfo=timezone.utc)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
        return iso(moment)
    except (ValueError, OverflowError):  # overflow: an offset moving year 1 or 9999 out of range in UTC
        raise ValueError("must be an ISO 8601 date or date-time within years 1-9999 in UTC") from None


# Query bounds: a date means the whole day; a date-time is taken as given (UTC if no zone).
_DATE_OR_DATE_TIME = SchemaHint(anyOf=[{"type": "string", "format": "date", "maxLength": 10},
                                        {"type": "string", "format": "date-time", "maxLength": 40},
                                        {"type": "null"}])
DateFrom = Annotated[str | None, BeforeValidator(lambda v: utc_bound(v, end=False)), _DATE_OR_DATE_TIME]
DateTo = Annotated[str | None, BeforeValidator(lambda v: utc_bound(v, end=True)), _DATE_OR_DATE_TIME]


class ApiModel(BaseModel):
    """Wire models: camelCase on the wire, unknown fields refused."""

    # Validators are built on first use, not at import: a cold start pays only for what it touches.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)


def project(model: type["ModelT"], source: BaseModel) -> "ModelT":
    """Build a (narrower) model from another, taking only the fields it declares."""
    return model.model_validate(source.model_dump(include=set(model.model_fields)))


ModelT = TypeVar("ModelT", bound=BaseModel)


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    limit: int = Field(default=20, ge=1, le=100)
    # The previous page's nextCursor, as given (base64url, signed: anything else answers 400).
    cursor: Annotated[str, StringConstraints(max_length=2048), SchemaHint(pattern=r"^[A-Za-z0-9_-]*$")] | None = None


# ISO 3166-1 alpha-2 codes of countries and territories.
ISO_3166_ALPHA2 = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())


def _known_country(code: str) -> str:
    if code not in ISO_3166_ALPHA2:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code")
    return code


Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_known_country),
                    SchemaHint(enum=sorted(ISO_3166_ALPHA2))]
PostalCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20,
                                              pattern=r"^[A-Za-z0-9][A-Za-z0-9 \-]*$")]


# ISO 3166-2 subdivision codes: the country's alpha-2 code, a hyphen, up to three letters or digits (`US-CA`).
Region = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$"), SchemaHint(maxLength=6)]


def _known_zone(code: str) -> str:
    if code[:2] not in ISO_3166_ALPHA2:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code or an ISO 3166-2 subdivision code of one")
    return code


# Where tax rates and shipping methods apply: a country (`DE`) or one of its subdivisions (`US-CA`).
Zone = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$"), AfterValidator(_known_zone),
                 SchemaHint(maxLength=6)]
# What tax a product (or a shipping method) is charged at in each zone: `standard`, `reduced`, `zero`...
TaxClass = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,29}$"), SchemaHint(maxLength=30)]


class PostalAddress(ApiModel):
    """A shipping address as SPEC §10 defines it; orders keep a snapshot of one. `region` is its ISO 3166-2
    subdivision (`US-CA`), where tax depends on it: it must be one of the address's country."""

    name: Text(100)
    line1: Text(200)
    line2: Text(200, min_length=0) | None = None
    city: Text(100)
    postal_code: PostalCode
    country: Country
    region: Region | None = None

    @model_validator(mode="after")
    def _region_of_the_country(self) -> PostalAddress:
        if self.region is not None and not self.region.startswith(f"{self.country}-"):
            raise ValueError(f"region {self.region} is not a subdivision of {self.country}")
        return self

    def zones(self) -> tuple[str, ...]:
        """The zones this address is in, most specific first: its region (if any), then its country."""
        return (self.region, self.country) if self.region else (self.country,)


class PricedLine(ApiModel):
    """Units of one variant at a price: what a basket shows and an order keeps (its SKU and option values as
    they were)."""

    product_id: str
    variant_id: str | None = None
    sku: str | None = None
    options: dict[str, str] = {}
    name: str
    unit_price: int
    quantity: int
    line_total: int
    # What the line is taxed as, its share of the discount, and the tax in (or on) what it costs after that share
    # (chalicelib/tax/totals.py). A line bought before tax was reckoned carries none.
    tax_class: str = "standard"
    discount: int = 0
    tax: int = 0

    @classmethod
    def priced(cls, line: Line, name: str, unit_price: int, *, sku: str | None = None,
               options: dict[str, str] | None = None, tax_class: str = "standard", **more: Any) -> Any:
        """The line for `line`, at `unit_price` (Line.of(priced) gives the line back)."""
        return cls(product_id=line.product_id, variant_id=line.key, sku=sku, options=options or {}, name=name,
                   unit_price=unit_price, quantity=line.quantity, line_total=unit_price * line.quantity,
                   tax_class=tax_class, **more)

