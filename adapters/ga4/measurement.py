"""Ga4Measurement: the `google_analytics` integration's FunnelSink. A sub-account's funnel events
go to its GA4 web stream through the Measurement Protocol, checked first against GA4's limits,
since `/mp/collect` takes everything and silently drops what breaks them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import structlog

from adapters.ga4 import metrics
from adapters.ga4.client import Ga4Http
from adapters.ga4.config import Ga4Config
from adapters.ga4.http_policy import Ga4Call
from adapters.ga4.mapping import client_id, mp_event
from adapters.ga4.metrics import DropReason
from adapters.ga4.validation import MAX_EVENTS_PER_REQUEST, chunks, event_problems, too_old
from application.ports import Clock, ProviderCall
from application.ports.funnel import FunnelEvent, FunnelOutcome

log = structlog.get_logger(__name__)

STALE = "older than the 72 hours GA4 accepts"
_EVENT_INDEX = re.compile(r"index: \[(\d+)\]")
_MAX_REASON = 300


class Ga4Measurement:
    """Sends each lead's events in requests of its own (GA4 takes one `client_id` per request),
    at most 25 events and under 130 kB each. Events older than 72 hours and events GA4 would
    drop are left out and reported in `dropped`; with the integration's `validate` switch the
    requests go to GA4's validation server, and the events it has messages for are dropped."""

    def __init__(self, http: Ga4Http, *, clock: Clock) -> None:
        self._http = http
        self._clock = clock

    @property
    def max_batch(self) -> int:
        # One batch is one request at most for a single lead: a failed send repeats no other.
        return MAX_EVENTS_PER_REQUEST

    def wants(self, event: FunnelEvent, call: ProviderCall) -> bool:
        """An analytics property hears of every lead of its sub-account."""
        return True

    async def send(self, call: ProviderCall, events: Sequence[FunnelEvent]) -> FunnelOutcome:
        config = Ga4Config.from_call(call)
        now = self._clock.now()
        dropped: dict[str, str] = {}
        by_client: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for event in events:
            if too_old(event.occurred_at, now):
                self._drop(dropped, event.id, STALE, DropReason.STALE)
                continue
            mapped = mp_event(event, config)
            problems = event_problems(mapped)
            if problems:
                self._drop(dropped, event.id, "; ".join(problems), DropReason.INVALID)
                continue
            by_client.setdefault(client_id(event), []).append((event.id, mapped))
        ga4_call = Ga4Call(
            integration_id=call.integration_id,
            limit_key=config.limit_key,
            rate_limit_per_minute=call.rate_limit_per_minute,
            priority=call.priority,
        )
        sent: list[str] = []
        for client, items in by_client.items():
            envelope = {"client_id": client}
            ids = [event_id for event_id, _ in items]
            for request_events in chunks(envelope, [mapped for _, mapped in items]):
                request_ids, ids = ids[: len(request_events)], ids[len(request_events) :]
                answer = await self._http.collect(
                    ga4_call, config, {**envelope, "events": request_events}, debug=config.validate
                )
                refused = _refused(answer.body, len(request_ids)) if config.validate else {}
                for index, event_id in enumerate(request_ids):
                    if index in refused:
                        self._drop(dropped, event_id, refused[index], DropReason.REFUSED)
                    else:
                        sent.append(event_id)
        metrics.EVENTS_SENT.inc(len(sent))
        log.info(
            "ga4_events_sent",
            integration_id=call.integration_id,
            sent=len(sent),
            dropped=len(dropped),
            validate=config.validate,
        )
        return FunnelOutcome(sent=tuple(sent), dropped=dropped)

    @staticmethod
    def _drop(dropped: dict[str, str], event_id: str, why: str, reason: DropReason) -> None:
        dropped[event_id] = why
        metrics.EVENTS_DROPPED.labels(reason.value).inc()


def _refused(body: object, count: int) -> dict[int, str]:
    """The events of one request that GA4's validation server has messages for, by index, with
    them; a message naming no event refuses the whole request."""
    messages = body.get("validationMessages") if isinstance(body, dict) else None
    refused: dict[int, list[str]] = {}
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        code = message.get("validationCode")
        description = message.get("description")
        text = f"GA4 validation: {code}: {description}"
        found = _EVENT_INDEX.search(description) if isinstance(description, str) else None
        indexes = [int(found.group(1))] if found else range(count)
        for index in indexes:
            if index < count:
                refused.setdefault(index, []).append(text)
    return {index: "; ".join(texts)[:_MAX_REASON] for index, texts in refused.items()}
