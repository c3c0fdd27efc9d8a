"""MetaConversions: the funnel stages of the leads a Page's forms captured, sent back to Meta's
Conversions API as CRM events (application.ports.FunnelSink; API-NOTES §9), so that Meta
optimises the Page's ads for leads that convert."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from adapters.meta.auth import PageAuth
from adapters.meta.graph import MetaGraph
from adapters.meta.template import DEFAULT_LEAD_EVENT_SOURCE, DEFAULT_STAGE_MAP
from application.ports import Clock, ProviderCall
from application.ports.funnel import FunnelEvent, FunnelOutcome
from domain.errors import InvalidArgumentError
from domain.values import SecretStr

MAX_BATCH = 1000
"""Events per Conversions API request (API-NOTES §9)."""
MAX_EVENT_AGE = timedelta(days=7)
"""Meta refuses a whole batch holding an event older than this (API-NOTES §9)."""
STALE_MARGIN = timedelta(minutes=10)
"""Meta judges an event's age when the request arrives: one this close to the bound could be
past it by then (the request's own retries), so it is dropped too."""
ACTION_SOURCE = "system_generated"
EVENT_SOURCE = "crm"

_NON_DIGITS = re.compile(r"[^0-9]")
_LEAD_ID = re.compile(r"[0-9]{1,20}")
_PHONE_DIGITS = range(7, 16)  # E.164: at most 15 digits with the country code


def normalised_email(value: str) -> str | None:
    """CAPI's ``em`` before hashing: trimmed, lower case; None when it is no address."""
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    return email if at and local and domain else None


def normalised_phone(value: str) -> str | None:
    """CAPI's ``ph`` before hashing: digits only, with the country code (``+`` and up to two
    leading zeros of an international prefix dropped). None when what is left starts with 0 (a
    national number, which would hash to a value nobody matches) or is not a phone number's
    length."""
    digits = _NON_DIGITS.sub("", value)
    for _ in range(2):
        digits = digits.removeprefix("0")
    if digits.startswith("0") or len(digits) not in _PHONE_DIGITS:
        return None
    return digits


def hashed(normalised: str) -> str:
    """SHA-256 of the normalised value, lowercase hex (CAPI's customer information)."""
    return hashlib.sha256(normalised.encode()).hexdigest()


def stage_map(config: Mapping[str, Any]) -> dict[str, str]:
    """The event name of each funnel stage: the integration's `stageMap` over the defaults."""
    names = dict(DEFAULT_STAGE_MAP)
    configured = config.get("stageMap")
    if isinstance(configured, dict):
        names.update(
            {
                stage: name.strip()
                for stage, name in configured.items()
                if stage in names and isinstance(name, str) and name.strip()
            }
        )
    return names


def lead_event_source(config: Mapping[str, Any]) -> str:
    source = config.get("leadEventSource")
    return (
        source.strip() if isinstance(source, str) and source.strip() else DEFAULT_LEAD_EVENT_SOURCE
    )


def dataset_of(config: Mapping[str, Any]) -> str | None:
    dataset = config.get("datasetId")
    return dataset if isinstance(dataset, str) and dataset else None


class MetaConversions:
    """Sends an integration's funnel events to its dataset, as CRM events of its own leads only,
    and only when it names a dataset."""

    max_batch = MAX_BATCH

    def __init__(self, graph: MetaGraph, *, clock: Clock) -> None:
        self._graph = graph
        self._clock = clock

    def wants(self, event: FunnelEvent, call: ProviderCall) -> bool:
        return event.source_integration_id == call.integration_id and bool(dataset_of(call.config))

    async def send(self, call: ProviderCall, events: Sequence[FunnelEvent]) -> FunnelOutcome:
        """Each event checked first (one Meta would refuse fails the whole batch): stale
        (MAX_EVENT_AGE), without an event name for its stage, a lead id that is no Lead Ads id,
        or a time without a zone are dropped and reported, never sent."""
        if len(events) > MAX_BATCH:
            raise InvalidArgumentError(f"at most {MAX_BATCH} events per Conversions API request")
        dataset = dataset_of(call.config)
        if dataset is None:
            return FunnelOutcome(dropped={e.id: "the integration names no dataset" for e in events})
        names = stage_map(call.config)
        source = lead_event_source(call.config)
        oldest = self._clock.now() - MAX_EVENT_AGE + STALE_MARGIN
        data: list[dict[str, Any]] = []
        sent: list[str] = []
        dropped: dict[str, str] = {}
        for event in events:
            problem = _problem(event, names, oldest)
            if problem is not None:
                dropped[event.id] = problem
                continue
            data.append(server_event(event, event_name=names[event.stage], source=source))
            sent.append(event.id)
        if data:
            await self._graph.send_events(PageAuth.from_call(call), dataset, data)
        return FunnelOutcome(sent=tuple(sent), dropped=dropped)


def server_event(event: FunnelEvent, *, event_name: str, source: str) -> dict[str, Any]:
    """A CRM event of the Conversions API (API-NOTES §9): the lead id unhashed, email and phone
    normalised and hashed, the event id the funnel step's (a retried batch counts once)."""
    user_data: dict[str, Any] = {"lead_id": int(event.source_external_id)}
    for key, value, normalise in (
        ("em", event.email, normalised_email),
        ("ph", event.phone, normalised_phone),
    ):
        normalised = _normalised(value, normalise)
        if normalised is not None:
            user_data[key] = [hashed(normalised)]
    return {
        "event_name": event_name,
        "event_time": int(event.occurred_at.timestamp()),
        "action_source": ACTION_SOURCE,
        "event_id": event.id,
        "user_data": user_data,
        "custom_data": {"event_source": EVENT_SOURCE, "lead_event_source": source},
    }


def _normalised(value: SecretStr | None, normalise: Callable[[str], str | None]) -> str | None:
    return None if value is None else normalise(value.reveal())


def _problem(event: FunnelEvent, names: Mapping[str, str], oldest: datetime) -> str | None:
    if not event.id:
        return "invalid: the event has no id"
    if event.occurred_at.tzinfo is None:
        return "invalid: the event's time has no time zone"
    if event.occurred_at < oldest:
        return "stale: older than Meta's 7 days"
    if not names.get(event.stage):
        return f"invalid: no event name for stage {event.stage}"
    if not _LEAD_ID.fullmatch(event.source_external_id):
        return "invalid: the lead's id is not a Lead Ads id"
    return None
