"""A GHL location's settings, kept per integration for an expiry window: one
``GET /locations/{id}`` per window, however many leads need the location's timezone."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.ghl.auth import GhlAuth
from application.ports import Clock, ProviderCall
from application.ports.crm import CrmAccount, CrmApi

# A location's timezone is set once and rarely changed; a change reaches new leads within this.
LOCATION_SETTINGS_TTL = timedelta(minutes=10)

_Key = tuple[str, str]  # (integration id, location id)


@dataclass(frozen=True, slots=True)
class _Entry:
    location: CrmAccount
    expires_at: datetime


class CachedGhlLocationSettings:
    """CrmAccountSettings over a CrmApi, in this process's memory. An entry per integration
    and location (never shared across integrations, whose credentials differ); a failed call is
    answered to every asker waiting on it and not kept. One entry per integration that asked, so
    the memory held grows with the integrations, not with the calls."""

    def __init__(
        self, api: CrmApi, *, clock: Clock, ttl: timedelta = LOCATION_SETTINGS_TTL
    ) -> None:
        self._api = api
        self._clock = clock
        self._ttl = ttl
        self._entries: dict[_Key, _Entry] = {}
        self._calls: dict[_Key, asyncio.Task[CrmAccount]] = {}

    async def account(self, call: ProviderCall) -> CrmAccount:
        key = (call.integration_id, GhlAuth.from_call(call).location_id)
        entry = self._entries.get(key)
        if entry is not None and self._clock.now() < entry.expires_at:
            return entry.location
        pending = self._calls.get(key)
        if pending is None:
            pending = asyncio.create_task(self._fetch(key, call))
            pending.add_done_callback(_retrieve)
            self._calls[key] = pending
        # An asker that gives up (cancelled) leaves the call to the others.
        return await asyncio.shield(pending)

    async def _fetch(self, key: _Key, call: ProviderCall) -> CrmAccount:
        try:
            location = await self._api.get_account(call)
            self._entries[key] = _Entry(location, self._clock.now() + self._ttl)
            return location
        finally:
            del self._calls[key]


def _retrieve(call: asyncio.Task[CrmAccount]) -> None:
    # A failure whose askers all gave up is not worth asyncio's "never retrieved" report.
    if not call.cancelled():
        call.exception()
