"""Runtime settings: one pydantic model, read from the environment on first use."""
from __future__ import annotations

import functools
import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.core.models import MAX_AMOUNT


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    stage: Literal["local", "dev", "prod", "test"] = "local"
    region: str = "us-east-1"
    table_name: str = "shop-local"
    event_bus_name: str = "shop-local"
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    # Local stack only: new sign-ups are confirmed at once so register-then-login works offline.
    auto_confirm_users: bool = False
    # Plain value for local/test only; dev and prod read it from SSM (payment_webhook_secret_parameter)
    # and refuse webhooks without it.
    payment_webhook_secret: str = "local-webhook-secret"
    payment_webhook_secret_parameter: str = ""
    # Who takes the cards (chalicelib/payments/provider.py): Stripe, or a provider speaking the generic signed
    # webhook (POST /webhooks/payments), which takes payments outside the API.
    payment_provider: Literal["stripe", "generic"] = "stripe"
    # The Secrets Manager secret (name or ARN) holding Stripe's keys as JSON, {"secretKey", "webhookSecret"}:
    # read by the two functions that talk to Stripe. The plain keys only where no secret is named, on the local
    # and test stages (make run gives the local Stripe's).
    stripe_secret: str = ""
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_publishable_key: str = ""  # public by design: handed to the browser with each PaymentIntent
    # Where the Stripe library sends its requests: Stripe itself unless set (make run: the local Stripe).
    stripe_api_base: str = ""
    # The Secrets Manager secret (name or ARN) whose value signs pagination cursors; the plain key
    # only where no secret is named, on the local/test stage.
    cursor_key_secret: str = ""
    cursor_key: str = "local-cursor-key"
    payment_window_minutes: int = Field(default=30, ge=1)
    # How long a container keeps the tax rates and shipping methods it read (core/read_cache.py); 0: never.
    settings_cache_seconds: int = Field(default=30, ge=0, le=300)
    basket_ttl_days: int = Field(default=30, ge=1)
    audit_retention_days: int = Field(default=365, ge=1)
    notification_retention_days: int = Field(default=90, ge=1)
    low_stock_threshold: int = Field(default=5, ge=0)
    # The currency a new basket and a listing's price ranges are in until the shopper asks for another.
    default_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # The currencies whose prices include tax (as consumers in the EU and the UK expect them to), comma-separated;
    # in every other currency tax is added to the price (as in the US).
    prices_include_tax: str = Field(default="EUR,GBP", pattern=r"^([A-Z]{3}(,[A-Z]{3})*)?$")
    # What one customer may hold unpaid at once: orders awaiting payment, and the units they reserve.
    max_unpaid_orders: int = Field(default=5, ge=1)
    max_unpaid_units: int = Field(default=500, ge=1)
    # The most one order may total, in the minor unit of its currency: a checkout over it answers 409
    # ORDER_TOTAL_TOO_LARGE. At most MAX_AMOUNT (core/models.py), which every inbound money model accepts, so
    # a payment or refund of any order the checkout makes is never refused for its size.
    max_order_total: int = Field(default=100_000_000_000, ge=1, le=MAX_AMOUNT)
    # Days after delivery in which a customer may ask to return what they bought.
    return_window_days: int = Field(default=30, ge=1)
    # How stale the account status the API checks on every request may be (users/account_status.py):
    # a suspension made in another container takes effect within it; 0 reads the status every time.
    account_status_ttl_seconds: int = Field(default=60, ge=0, le=300)
    # How long an unconfirmed sign-up holds its email: after it, a new registration replaces it (and its
    # password). Cognito's confirmation codes last 24 hours.
    unconfirmed_signup_hours: int = Field(default=24, ge=1)
    # Product images: the bucket uploads go to and are published in, and where published images are served
    # from (the CDN's address in AWS; locally the emulator's path-style URL of the published prefix).
    images_bucket: str = "shop-local-images-123456789012-us-east-1"  # the template's name, in the emulator
    images_base_url: str = ""
    log_level: str = "INFO"
    tracing: bool = False
    send_email: bool = False
    email_sender: str = ""

    def includes_tax(self, currency: str) -> bool:
        """Whether prices in `currency` include tax (PRICES_INCLUDE_TAX)."""
        return currency in self.prices_include_tax.split(",")

    @property
    def deployed(self) -> bool:
        """A stage in AWS: secrets come from the stack, never from the local defaults."""
        return self.stage in ("dev", "prod")

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        fields = {}
        for name in cls.model_fields:
            key = "AWS_DEFAULT_REGION" if name == "region" else name.upper()
            if key in env and env[key] != "":
                fields[name] = env[key]
        if "region" not in fields and env.get("AWS_REGION"):
            fields["region"] = env["AWS_REGION"]
        return cls(**fields)


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this container, read once on first use (never at import)."""
    return Settings.from_environ()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    settings.cache_clear()
