"""CreateBlockSlot: block time on a CRM calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from application.calendar_access import CalendarAccess
from application.ports.crm import BlockSlot, CrmApi
from domain.errors import FieldViolation, InvalidArgumentError, InvalidCredentialsError
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateBlockSlotCommand:
    actor: Principal
    integration_id: str
    start: datetime
    end: datetime
    title: str = ""
    calendar_id: str = ""
    """Empty: the integration's default `calendarId`."""


class CreateBlockSlot:
    """Rules: as GetFreeSlots; the block has a positive length with offsets on both ends. The CRM
    creates are not idempotent, so the client never retries one that may have landed."""

    def __init__(self, *, access: CalendarAccess, crm: CrmApi) -> None:
        self._access = access
        self._crm = crm

    async def execute(self, cmd: CreateBlockSlotCommand) -> BlockSlot:
        if cmd.start.tzinfo is None or cmd.end.tzinfo is None or cmd.end <= cmd.start:
            raise InvalidArgumentError(
                "the block must end after it starts",
                (FieldViolation("end_time", "must be after start_time"),),
            )
        integration, call, calendar = await self._access.open(
            cmd.actor, cmd.integration_id, cmd.calendar_id
        )
        try:
            return await self._crm.create_block_slot(
                call, calendar, start=cmd.start, end=cmd.end, title=cmd.title or None
            )
        except InvalidCredentialsError as err:
            await self._access.credentials_refused(integration.id, err)
            raise
