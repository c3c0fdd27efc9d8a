"""ProviderHttpClient: one provider's outbound calls over one aiohttp session: a rate-limit slot
per attempt, retries with jittered backoff honouring the provider's waits, one credential
refresh after a 401, metrics, and the provider's error table (its ProviderPolicy)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiohttp
import structlog
from multidict import CIMultiDict

from adapters.http.metrics import RetryReason, provider_metrics
from adapters.http.policy import HttpAnswer, HttpRequest, ProviderPolicy
from adapters.http.transport import TransportError, parse_json, transport_error
from application.call_budget import rate_limit_wait
from application.ports.rate_limits import RateLimiter
from domain.errors import ConnectionFailedError

log = structlog.get_logger(__name__)

CallT = TypeVar("CallT")


@dataclass(frozen=True, slots=True)
class HttpTimeouts:
    connect: float = 5.0  # TCP + TLS handshake
    read: float = 30.0  # between two reads of the answer


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of one call: exponential backoff with full jitter (a random delay between 0 and
    `base_delay` * 2^(attempt-1), capped at `max_delay`, never shorter than the provider's
    Retry-After), at most `max_attempts` attempts and `total_seconds` overall.
    `rate_limit_wait` bounds each wait for a rate-limit slot."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    total_seconds: float = 30.0
    rate_limit_wait: float = 10.0


class ProviderHttpClient(Generic[CallT]):
    """Calls to one provider (one base URL). Create it once per process and `close()` it at
    shutdown; it opens its aiohttp session on first use (inside the running loop)."""

    def __init__(
        self,
        policy: ProviderPolicy[CallT],
        *,
        rate_limiter: RateLimiter,
        base_url: str,
        timeouts: HttpTimeouts = HttpTimeouts(),
        retry: RetryPolicy = RetryPolicy(),
        rng: random.Random | None = None,
    ) -> None:
        self._policy = policy
        self._limiter = rate_limiter
        self._base_url = base_url.rstrip("/")
        self._timeouts = timeouts
        self._retry = retry
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._metrics = provider_metrics(policy.name, policy.display_name)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, call: CallT, request: HttpRequest) -> HttpAnswer:
        """Send `request` until it has a final answer, and return it if it is a success (2xx).

        Each attempt first waits for a slot of the key the policy names (RateLimitExceededError
        when none comes within the wait allowed or before the deadline), and hands the
        answer's rate-limit observation back to the limiter. Repeated, within the attempts and
        the deadline: a throttled answer (it did nothing, so even a request that is not
        idempotent; the limiter holds the key back for the provider's wait), a transient
        answer or a lost one when the request is idempotent or never left (after a backoff,
        never sooner than Retry-After), and a 401 once, after the credentials are refreshed.
        Otherwise: ConnectionFailedError when the provider could not be reached, else the
        policy's error for the answer."""
        policy, metrics = self._policy, self._metrics
        deadline = time.monotonic() + self._retry.total_seconds
        attempt = 0
        reauthorised = False
        endpoint = policy.endpoint(request.path)
        slot = policy.rate_limit(call, request)
        authorizer = policy.authorizer(call)
        while True:
            attempt += 1
            credentials = await authorizer.headers()
            permit = await self._limiter.acquire(
                slot.key,
                limit_per_minute=slot.limit_per_minute,
                max_wait=max(
                    0.0,
                    min(rate_limit_wait(self._retry.rate_limit_wait), deadline - time.monotonic()),
                ),
                priority=slot.priority,
            )
            sent = time.perf_counter()
            try:
                answer = await self.send_once(
                    request.method,
                    request.path,
                    headers={**policy.headers(request), **credentials},
                    params=request.params,
                    json=request.json,
                )
            except TransportError as failure:
                metrics.answered(request.method, endpoint, "error", sent=sent)
                await permit.release(None)
                may_repeat = failure.retryable and (request.idempotent or failure.unsent)
                delay = self._backoff(attempt, deadline) if may_repeat else None
                if delay is None:
                    raise ConnectionFailedError(
                        f"{policy.display_name} could not be reached: {failure.reason}"
                    ) from failure.__cause__
                self._retrying(call, request, attempt, failure.reason, delay)
                metrics.retried(endpoint, RetryReason.TRANSPORT)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                await permit.release(None)
                raise
            metrics.answered(request.method, endpoint, str(answer.status), sent=sent)
            observed = policy.observe(answer)
            await permit.release(observed)
            if answer.status < 300:
                return answer
            if answer.status == 401 and not reauthorised and await authorizer.refresh():
                # The SDKs' rule: on a 401, refresh once and repeat once.
                reauthorised = True
                metrics.retried(endpoint, RetryReason.REAUTHORISED)
                attempt -= 1
                continue
            if observed.throttled:
                metrics.throttled.labels(endpoint).inc()
                if attempt < self._retry.max_attempts:
                    # A refused request did nothing, so it is safe to repeat even when not
                    # idempotent. The limiter now holds the key back for the provider's wait;
                    # the next acquire fails with RATE_LIMIT_EXCEEDED if that outlasts the
                    # deadline.
                    self._retrying(call, request, attempt, f"HTTP {answer.status}", 0.0)
                    metrics.retried(endpoint, RetryReason.THROTTLED)
                    continue
            elif request.idempotent and policy.is_transient(answer):
                delay = self._backoff(attempt, deadline, observed.retry_after_seconds)
                if delay is not None:
                    self._retrying(call, request, attempt, f"HTTP {answer.status}", delay)
                    metrics.retried(endpoint, RetryReason.SERVER_ERROR)
                    await asyncio.sleep(delay)
                    continue
            log.warning(
                f"{policy.name}_call_failed",
                **policy.log_fields(call),
                method=request.method,
                path=request.path,
                status=answer.status,
                trace_id=policy.trace_id(answer),
            )
            raise policy.error_for(answer, observed, request)

    async def send_once(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        """One request and its answer, with no rate limit, retry or error mapping (for calls
        that must never be repeated, such as an OAuth refresh). Raises TransportError when no
        answer arrives."""
        try:
            async with self._get_session().request(
                method,
                self._base_url + path,
                headers=headers,
                params=params,
                json=json,
                data=data,
                allow_redirects=False,
            ) as resp:
                raw = await resp.read()
                return HttpAnswer(resp.status, CIMultiDict(resp.headers), parse_json(raw))
        except (aiohttp.ClientError, TimeoutError) as err:
            raise transport_error(err) from err

    def _backoff(
        self, attempt: int, deadline: float, retry_after: float | None = None
    ) -> float | None:
        """The delay before the next attempt, or None when attempts or time are used up."""
        if attempt >= self._retry.max_attempts:
            return None
        ceiling = min(self._retry.max_delay, self._retry.base_delay * 2 ** (attempt - 1))
        delay = self._rng.uniform(0.0, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if time.monotonic() + delay >= deadline:
            return None
        return delay

    def _retrying(
        self, call: CallT, request: HttpRequest, attempt: int, reason: str, delay: float
    ) -> None:
        log.info(
            f"{self._policy.name}_call_retried",
            **self._policy.log_fields(call),
            method=request.method,
            path=request.path,
            attempt=attempt,
            reason=reason,
            delay_s=round(delay, 3),
        )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self._timeouts.connect, sock_read=self._timeouts.read
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session
