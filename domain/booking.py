"""Booking: a provider's appointment as synced, unique per (integration, provider appointment id)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.aggregate import Aggregate
from domain.errors import FieldViolation, InvalidArgumentError
from domain.events import BookingCancelled, BookingCreated, BookingUpdated
from domain.lead import is_provisional

_ID_MAX = 128


class BookingStatus(StrEnum):
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    SHOWED = "showed"
    NO_SHOW = "noshow"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingDetails:
    """What the provider says about an appointment. Times are timezone-aware."""

    calendar_id: str
    contact_external_id: str
    start: datetime
    end: datetime
    title: str | None = None
    assigned_user_id: str | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        violations: list[FieldViolation] = []
        for name in ("calendar_id", "contact_external_id"):
            value = getattr(self, name)
            if not value or len(value) > _ID_MAX:
                violations.append(
                    FieldViolation(name, f"is required, at most {_ID_MAX} characters")
                )
        if self.start.tzinfo is None or self.end.tzinfo is None:
            violations.append(FieldViolation("start", "start and end must carry a timezone"))
        elif self.end < self.start:
            violations.append(FieldViolation("end", "must not be before start"))
        if violations:
            raise InvalidArgumentError("the booking's details are not valid", tuple(violations))

    def differences(self, other: BookingDetails) -> tuple[str, ...]:
        return tuple(
            f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)
        )


class Booking(Aggregate):
    """A synced appointment. As for leads, an older provider change never overwrites a newer
    one, and a deleted appointment stays cancelled for good. A cancelled (not deleted) one may
    be booked again by a newer change."""

    def __init__(
        self,
        *,
        id: str,
        sub_account_id: str,
        integration_id: str,
        external_id: str,
        details: BookingDetails,
        status: BookingStatus,
        lead_id: str | None,
        external_updated_at: datetime | None,
        deleted: bool,
        created_at: datetime,
        updated_at: datetime,
        version: int,
    ) -> None:
        super().__init__()
        self.id = id
        self.sub_account_id = sub_account_id
        self.integration_id = integration_id
        self.external_id = external_id
        self.details = details
        self.status = status
        self.lead_id = lead_id
        self.external_updated_at = external_updated_at
        self.deleted = deleted
        self.created_at = created_at
        self.updated_at = updated_at
        self.version = version

    @classmethod
    def create(
        cls,
        *,
        id: str,
        sub_account_id: str,
        integration_id: str,
        external_id: str,
        details: BookingDetails,
        now: datetime,
        status: BookingStatus = BookingStatus.BOOKED,
        lead_id: str | None = None,
        external_updated_at: datetime | None = None,
    ) -> Booking:
        if not sub_account_id or not external_id or len(external_id) > _ID_MAX:
            raise InvalidArgumentError(
                "the booking's identifiers are not valid",
                (FieldViolation("external_id", f"is required, at most {_ID_MAX} characters"),),
            )
        booking = cls(
            id=id,
            sub_account_id=sub_account_id,
            integration_id=integration_id,
            external_id=external_id,
            details=details,
            status=status,
            lead_id=lead_id,
            external_updated_at=external_updated_at,
            deleted=False,
            created_at=now,
            updated_at=now,
            version=1,
        )
        booking._record(
            BookingCreated(
                **booking._event_base(now, next_version=1),
                calendar_id=details.calendar_id,
                contact_external_id=details.contact_external_id,
                lead_id=lead_id,
                title=details.title,
                start=details.start,
                end=details.end,
                status=str(status),
            )
        )
        return booking

    def is_older(self, external_updated_at: datetime | None) -> bool:
        return (
            external_updated_at is not None
            and self.external_updated_at is not None
            and external_updated_at < self.external_updated_at
        )

    def sync(
        self,
        *,
        details: BookingDetails,
        now: datetime,
        status: BookingStatus | None = None,
        lead_id: str | None = None,
        external_updated_at: datetime | None = None,
    ) -> bool:
        """Take the provider's current appointment (`status`, `lead_id` None: keep). Returns
        whether the booking must be written. A move to cancelled records BookingCancelled; every
        other change is one BookingUpdated listing the changed fields."""
        if self.deleted or self.is_older(external_updated_at):
            return False
        changed = list(self.details.differences(details))
        if lead_id is not None and lead_id != self.lead_id:
            changed.append("lead_id")
        cancelled = status is BookingStatus.CANCELLED and self.status is not status
        if status is not None and status is not self.status and not cancelled:
            changed.append("status")
        newer = external_updated_at is not None and (
            self.external_updated_at is None or external_updated_at > self.external_updated_at
        )
        if not changed and not cancelled and not newer:
            return False
        self.details = details
        self.lead_id = lead_id or self.lead_id
        self.status = status or self.status
        if newer:
            self.external_updated_at = external_updated_at
        self.updated_at = now
        if changed:
            self._record(BookingUpdated(**self._event_base(now), changed_fields=tuple(changed)))
        if cancelled:
            self._record(BookingCancelled(**self._event_base(now), reason="cancelled"))
        return True

    @property
    def on_provider(self) -> bool:
        """Whether the provider knows the appointment (one booked here waits for its id)."""
        return not is_provisional(self.external_id)

    def cancel(self, *, now: datetime) -> bool:
        """Cancelled in the platform, to be pushed to the provider. Returns False if it already
        was cancelled."""
        if self.status is BookingStatus.CANCELLED:
            return False
        self.status = BookingStatus.CANCELLED
        self.updated_at = now
        self._record(BookingCancelled(**self._event_base(now), reason="cancelled"))
        return True

    def link(
        self,
        external_id: str,
        *,
        contact_external_id: str,
        external_updated_at: datetime | None,
        now: datetime,
    ) -> None:
        """The provider created the appointment (or block) of a booking made here: it takes the
        provider's id, and the provider's id of its contact."""
        if self.on_provider:
            raise InvalidArgumentError("the booking already has its provider id")
        if not external_id or len(external_id) > _ID_MAX:
            raise InvalidArgumentError(
                "the booking's identifiers are not valid",
                (FieldViolation("external_id", f"is required, at most {_ID_MAX} characters"),),
            )
        changed = ["external_id"]
        if contact_external_id != self.details.contact_external_id:
            self.details = replace(self.details, contact_external_id=contact_external_id)
            changed.append("contact_external_id")
        self.external_id = external_id
        if external_updated_at is not None:
            self.external_updated_at = external_updated_at
        self.updated_at = now
        self._record(BookingUpdated(**self._event_base(now), changed_fields=tuple(changed)))

    def delete(self, *, now: datetime) -> bool:
        """The appointment was deleted at the provider: cancelled for good. Returns False if it
        already was deleted; one already cancelled records no second cancellation."""
        if self.deleted:
            return False
        self.deleted = True
        self.updated_at = now
        if self.status is not BookingStatus.CANCELLED:
            self.status = BookingStatus.CANCELLED
            self._record(BookingCancelled(**self._event_base(now), reason="deleted"))
        return True

    def _event_base(self, now: datetime, *, next_version: int | None = None) -> dict[str, Any]:
        return {
            "aggregate_id": self.id,
            "aggregate_version": next_version if next_version is not None else self.version + 1,
            "occurred_at": now,
            "sub_account_id": self.sub_account_id,
            "integration_id": self.integration_id,
            "external_id": self.external_id,
        }
