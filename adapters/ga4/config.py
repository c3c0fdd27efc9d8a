"""A `google_analytics` integration's config and secrets, read from the neutral ProviderCall."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.ga4.template import DEFAULT_EVENT_MAP
from application.ports.funnel import FunnelStage
from application.ports.providers import ProviderCall
from domain.errors import ConfigSchemaInvalidError, FieldViolation, InvalidCredentialsError
from domain.values import SecretStr


@dataclass(frozen=True, slots=True)
class Ga4Config:
    """What GA4 calls of one integration need. `property_id` and the Admin API's credentials (a
    service-account key, or a Google user's refresh token from a sign-in) only serve the
    connection test; `values` holds the configured value of each stage that has one."""

    integration_id: str
    measurement_id: str
    api_secret: SecretStr = field(repr=False)
    property_id: str | None
    service_account_key: SecretStr | None = field(repr=False)
    refresh_token: SecretStr | None = field(repr=False)
    region: str
    currency: str | None
    values: dict[FunnelStage, float]
    event_names: dict[FunnelStage, str]
    validate: bool

    @property
    def limit_key(self) -> str:
        """GA4 limits a property: the key of its rate-limit slots (the measurement id when the
        property id is not configured)."""
        return f"ga4:property:{self.property_id or self.measurement_id}"

    @classmethod
    def from_call(cls, call: ProviderCall) -> Ga4Config:
        """Raises ConfigSchemaInvalidError without a measurement id, InvalidCredentialsError
        without an API secret."""
        config = call.config
        measurement_id = config.get("measurementId")
        if not isinstance(measurement_id, str) or not measurement_id:
            raise ConfigSchemaInvalidError(
                "the integration has no GA4 measurement id",
                (FieldViolation("config.measurementId", "is required"),),
            )
        api_secret = call.credentials.get("apiSecret")
        if api_secret is None or not api_secret.reveal():
            raise InvalidCredentialsError("the integration has no Measurement Protocol API secret")
        property_id = config.get("propertyId")
        currency = config.get("currency")
        return cls(
            integration_id=call.integration_id,
            measurement_id=measurement_id,
            api_secret=api_secret,
            property_id=property_id if isinstance(property_id, str) and property_id else None,
            service_account_key=call.credentials.get("serviceAccountKey"),
            refresh_token=call.credentials.get("refreshToken"),
            region="eu" if config.get("region") == "eu" else "global",
            currency=currency if isinstance(currency, str) and currency else None,
            values=_values(config.get("value")),
            event_names=_event_names(config.get("eventMap")),
            validate=config.get("validate") is True,
        )


def _values(raw: Any) -> dict[FunnelStage, float]:
    if not isinstance(raw, dict):
        return {}
    return {
        stage: raw[stage.value]
        for stage in FunnelStage
        if isinstance(raw.get(stage.value), int | float) and not isinstance(raw[stage.value], bool)
    }


def _event_names(raw: Any) -> dict[FunnelStage, str]:
    names = {FunnelStage(stage): name for stage, name in DEFAULT_EVENT_MAP.items()}
    if isinstance(raw, dict):
        for stage in FunnelStage:
            name = raw.get(stage.value)
            if isinstance(name, str) and name:
                names[stage] = name
    return names
