"""Ga4Provider: the `google_analytics` template's IntegrationProvider."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from adapters.ga4.client import Ga4Http
from adapters.ga4.config import Ga4Config
from adapters.ga4.google_oauth import GoogleOAuth, TokenRefusedError
from adapters.ga4.http_policy import Ga4Call
from adapters.ga4.mapping import client_id, mp_event
from adapters.ga4.service_account import admin_access_token
from adapters.ga4.validation import event_problems
from application.call_budget import rate_limit_wait_at_most
from application.ports import Clock, ConnectionTestResult, ProviderCall, ProviderContext
from application.ports.funnel import FunnelEvent, FunnelStage
from domain.errors import (
    ConfigSchemaInvalidError,
    ConnectionFailedError,
    DomainError,
    ErrorCode,
    InvalidCredentialsError,
    NotFoundError,
    RateLimitExceededError,
)
from domain.values import ProviderAccount, SecretStr

ACCOUNT_KIND = "ga4.stream"

_TEST_RATE_LIMIT_WAIT = 1.0
"""How long a connection test waits for a rate-limit slot: a person waits on its answer."""

T = TypeVar("T")


def stream_account(measurement_id: str) -> ProviderAccount:
    """The account a connection test proves: the web stream, by its measurement id. The API
    secret is the stream's, and so is every event sent with it; a property holds several."""
    return ProviderAccount(ACCOUNT_KIND, measurement_id)


class _StepFailedError(Exception):
    def __init__(self, code: ErrorCode, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


async def _step(name: str, work: Awaitable[T]) -> T:
    """`work`, with its failure told in the service's codes and named by its step."""
    try:
        return await work
    except RateLimitExceededError as err:
        raise _StepFailedError(
            ErrorCode.RATE_LIMIT_EXCEEDED,
            f"{name}: Google Analytics' quota was reached",
            max(err.retry_after_seconds, 0.0),
        ) from err
    except InvalidCredentialsError as err:
        raise _StepFailedError(ErrorCode.INVALID_CREDENTIALS, f"{name}: {err.message}") from err
    except (ConfigSchemaInvalidError, NotFoundError) as err:
        raise _StepFailedError(ErrorCode.CONFIG_SCHEMA_INVALID, f"{name}: {err.message}") from err
    except DomainError as err:
        raise _StepFailedError(ErrorCode.CONNECTION_FAILED, f"{name}: {err.message}") from err


class Ga4Provider:
    """Tests a connection as API-NOTES §7 says, since `/mp/collect` accepts anything and a wrong
    secret would lose every event silently: an Admin API token (from the Google sign-in's
    refresh token when the integration has one and `oauth`, the platform's Google app, is
    configured; else from the service-account key), the property's data
    streams, the one whose measurement id is configured (else CONFIG_SCHEMA_INVALID), its
    Measurement Protocol secrets, the configured secret among them (else INVALID_CREDENTIALS),
    then a sample of the integration's events to the validation server, which must have no
    messages. 401/403 are INVALID_CREDENTIALS; an unknown property CONFIG_SCHEMA_INVALID; other
    failures CONNECTION_FAILED. Messages name the step that failed, never a secret."""

    def __init__(
        self,
        http: Ga4Http,
        *,
        clock: Clock,
        token_timeout: float = 10.0,
        oauth: GoogleOAuth | None = None,
    ) -> None:
        self._http = http
        self._clock = clock
        self._token_timeout = token_timeout
        self._oauth = oauth

    async def test_connection(self, ctx: ProviderContext) -> ConnectionTestResult:
        started = time.perf_counter()
        try:
            with rate_limit_wait_at_most(_TEST_RATE_LIMIT_WAIT):
                details = await self._check(ctx)
        except _StepFailedError as failure:
            return ConnectionTestResult(
                success=False,
                message=failure.message,
                error_code=failure.code,
                latency_ms=_elapsed_ms(started),
                retry_after_seconds=failure.retry_after,
            )
        return ConnectionTestResult(
            success=True,
            message=f"Connected to GA4 stream {details['measurement_id']} of property "
            f"{details['property_id']}",
            details=details,
            latency_ms=_elapsed_ms(started),
            accounts=frozenset({stream_account(details["measurement_id"])}),
        )

    async def _check(self, ctx: ProviderContext) -> dict[str, str]:
        call = ProviderCall.of(ctx)
        config = await _step("reading the config", _config(call))
        if config.property_id is None or (
            config.service_account_key is None and config.refresh_token is None
        ):
            raise _StepFailedError(
                ErrorCode.CONFIG_SCHEMA_INVALID,
                "the connection test needs the property id and a service-account key (or a "
                "Google sign-in)",
            )
        token = await self._admin_token(config)
        admin = self._ga4_call(call, config, bearer=token)
        streams = await _step(
            "listing the property's data streams",
            self._http.list_data_streams(admin, config.property_id),
        )
        stream = next((s for s in streams if _measurement_id(s) == config.measurement_id), None)
        if stream is None or not isinstance(stream.get("name"), str):
            raise _StepFailedError(
                ErrorCode.CONFIG_SCHEMA_INVALID,
                f"finding the stream: property {config.property_id} has no web stream with "
                f"measurement id {config.measurement_id}",
            )
        secrets = await _step(
            "listing the stream's Measurement Protocol secrets",
            self._http.list_mp_secrets(admin, stream["name"]),
        )
        if not any(_same_secret(s.get("secretValue"), config.api_secret) for s in secrets):
            raise _StepFailedError(
                ErrorCode.INVALID_CREDENTIALS,
                "checking the API secret: it is not one of the stream's Measurement Protocol "
                "secrets",
            )
        await self._validate_sample(call, config)
        return {
            "property_id": config.property_id,
            "measurement_id": config.measurement_id,
            "stream": str(stream.get("displayName", "")),
        }

    async def _admin_token(self, config: Ga4Config) -> SecretStr:
        key, refresh = config.service_account_key, config.refresh_token
        if key is not None and (refresh is None or self._oauth is None):
            return await _step(
                "getting a service-account token",
                admin_access_token(
                    key,
                    token_url=self._http.settings.token_url,
                    request_seconds=self._token_timeout,
                ),
            )
        # A sign-in is the newer, deliberate choice of the two when both are configured.
        return await _step(
            "getting an access token from the Google sign-in", self._user_access_token(refresh)
        )

    async def _user_access_token(self, refresh_token: SecretStr | None) -> SecretStr:
        if self._oauth is None or refresh_token is None:
            raise ConnectionFailedError("Google sign-in is not configured on this platform")
        try:
            tokens = await self._oauth.refresh(refresh_token, now=self._clock.now())
        except TokenRefusedError as err:
            if err.error == "invalid_grant":
                raise InvalidCredentialsError(
                    "Google refused the refresh token (revoked or expired): sign in again"
                ) from err
            raise
        return tokens.access_token

    async def _validate_sample(self, call: ProviderCall, config: Ga4Config) -> None:
        """One event of every stage, as the integration would send them, to `/debug/mp/collect`."""
        now = self._clock.now()
        samples = [
            FunnelEvent(
                id=f"connection-test-{stage.value}",
                stage=stage,
                sub_account_id=call.sub_account_id,
                lead_id="connection-test",
                occurred_at=now,
                source_integration_id=call.integration_id,
                source_template="connection_test",
                source_external_id="connection-test",
                reason="lost" if stage is FunnelStage.LOST else None,
            )
            for stage in FunnelStage
        ]
        events = [mp_event(sample, config) for sample in samples]
        problems = [p for event in events for p in event_problems(event)]
        if problems:
            raise _StepFailedError(
                ErrorCode.CONFIG_SCHEMA_INVALID,
                f"checking the events: {'; '.join(problems)}",
            )
        answer = await _step(
            "sending a sample to GA4's validation server",
            self._http.collect(
                self._ga4_call(call, config),
                config,
                {"client_id": client_id(samples[0]), "events": events},
                debug=True,
            ),
        )
        messages = answer.body.get("validationMessages") if isinstance(answer.body, dict) else None
        if messages is None:
            raise _StepFailedError(
                ErrorCode.CONNECTION_FAILED,
                "sending a sample to GA4's validation server: it gave no validation answer",
            )
        if messages:
            described = "; ".join(_describe(m) for m in messages if isinstance(m, dict))
            raise _StepFailedError(
                ErrorCode.CONFIG_SCHEMA_INVALID,
                f"sending a sample to GA4's validation server: {described}"[:500],
            )

    @staticmethod
    def _ga4_call(
        call: ProviderCall, config: Ga4Config, *, bearer: SecretStr | None = None
    ) -> Ga4Call:
        return Ga4Call(
            integration_id=call.integration_id,
            limit_key=config.limit_key,
            rate_limit_per_minute=call.rate_limit_per_minute,
            priority=call.priority,
            bearer=bearer,
        )


async def _config(call: ProviderCall) -> Ga4Config:
    return Ga4Config.from_call(call)


def _measurement_id(stream: dict[str, Any]) -> str | None:
    web = stream.get("webStreamData")
    measurement_id = web.get("measurementId") if isinstance(web, dict) else None
    return measurement_id if isinstance(measurement_id, str) else None


def _same_secret(value: object, secret: SecretStr) -> bool:
    return isinstance(value, str) and hmac.compare_digest(value.encode(), secret.reveal().encode())


def _describe(message: dict[str, Any]) -> str:
    return f"{message.get('validationCode')}: {message.get('description')}"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
