"""GhlProvider: the `gohighlevel` template's IntegrationProvider."""

from __future__ import annotations

import time
from dataclasses import replace

from adapters.ghl.auth import GhlAuth
from adapters.ghl.webhooks import company_account, location_account
from application.call_budget import rate_limit_wait_at_most
from application.ports import ConnectionTestResult, ProviderCall, ProviderContext
from application.ports.crm import CrmApi
from domain.errors import (
    ConfigSchemaInvalidError,
    ConnectionFailedError,
    ErrorCode,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitExceededError,
)

_TEST_RATE_LIMIT_WAIT = 1.0
"""How long a connection test waits for a rate-limit slot: a person waits on its answer, and a
throttled test concludes nothing anyway."""


class GhlProvider:
    """Tests a connection by reading the integration's location, the cheapest call that proves
    both the token and its access to that location (API-NOTES §3.2). While GHL rate limits the
    integration, the test does not queue for long: it answers at once that it could not
    conclude, and when to try again."""

    def __init__(self, client: CrmApi) -> None:
        self._client = client

    async def test_connection(self, ctx: ProviderContext) -> ConnectionTestResult:
        started = time.perf_counter()

        def failed(code: ErrorCode, message: str, trace_id: str | None) -> ConnectionTestResult:
            return ConnectionTestResult(
                success=False,
                message=message,
                details={"trace_id": trace_id} if trace_id else {},
                error_code=code,
                latency_ms=_elapsed_ms(started),
            )

        try:
            call = ProviderCall.of(ctx)
            auth = GhlAuth.from_call(call)
            with rate_limit_wait_at_most(_TEST_RATE_LIMIT_WAIT):
                location = await self._client.get_account(call)
        except ConfigSchemaInvalidError as err:
            return failed(ErrorCode.CONFIG_SCHEMA_INVALID, err.message, None)
        except InvalidCredentialsError as err:
            return failed(
                ErrorCode.INVALID_CREDENTIALS,
                "GoHighLevel refused the credentials for this location",
                err.trace_id,
            )
        except RateLimitExceededError as err:
            return replace(
                failed(
                    ErrorCode.RATE_LIMIT_EXCEEDED,
                    "GoHighLevel's rate limit was reached",
                    err.trace_id,
                ),
                retry_after_seconds=max(err.retry_after_seconds, 0.0),
            )
        except ConnectionFailedError as err:
            return failed(ErrorCode.CONNECTION_FAILED, err.message, err.trace_id)
        except NotFoundError as err:
            return failed(
                ErrorCode.PROVIDER_ERROR,
                f"GoHighLevel has no location {ctx.config.get('locationId')!r}",
                err.metadata.get("trace_id"),
            )
        except ProviderError as err:
            return failed(
                ErrorCode.PROVIDER_ERROR, f"GoHighLevel refused: {err.message}", err.trace_id
            )
        accounts = {location_account(auth.location_id)}
        company = call.config.get("companyId")
        if isinstance(company, str) and company:  # connected through an agency's install
            accounts.add(company_account(company))
        return ConnectionTestResult(
            success=True,
            message=f"Connected to GoHighLevel location {location.name!r}",
            details={"account_name": location.name, "location_id": location.id},
            latency_ms=_elapsed_ms(started),
            accounts=frozenset(accounts),
        )


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
