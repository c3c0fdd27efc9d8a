"""GetFreeSlots: the free appointment slots of a CRM calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from application.calendar_access import CalendarAccess
from application.ports.crm import CrmApi, FreeSlots, check_free_slots_range
from domain.errors import InvalidCredentialsError
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class GetFreeSlotsQuery:
    actor: Principal
    integration_id: str
    start: datetime
    end: datetime
    timezone: str
    calendar_id: str = ""
    """Empty: the integration's default `calendarId`."""
    user_id: str | None = None


class GetFreeSlots:
    """Rules: anyone who sees the integration may ask; it must be switched on and connected
    (else INTEGRATION_NOT_ACTIVE); the range is at most 31 days in an IANA zone; refused
    credentials move the integration to error."""

    def __init__(self, *, access: CalendarAccess, crm: CrmApi) -> None:
        self._access = access
        self._crm = crm

    async def execute(self, query: GetFreeSlotsQuery) -> FreeSlots:
        check_free_slots_range(query.start, query.end, query.timezone)
        integration, call, calendar = await self._access.open(
            query.actor, query.integration_id, query.calendar_id
        )
        try:
            return await self._crm.get_free_slots(
                call,
                calendar,
                start=query.start,
                end=query.end,
                timezone=query.timezone,
                user_id=query.user_id,
            )
        except InvalidCredentialsError as err:
            await self._access.credentials_refused(integration.id, err)
            raise
