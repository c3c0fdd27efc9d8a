"""Lead: a provider's contact as synced, unique per (integration, provider contact id)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.aggregate import Aggregate
from domain.errors import FieldViolation, InvalidArgumentError
from domain.events import LeadCaptured, LeadDeleted, LeadMerged, LeadStatusChanged, LeadUpdated

_ID_MAX = 128
PROVISIONAL_PREFIX = "local:"
"""The external id of a lead created in this service until the provider gives it an id of its
own (no provider id starts so: the CRM's are letters and digits)."""


def provisional_external_id(record_id: str) -> str:
    return PROVISIONAL_PREFIX + record_id


def is_provisional(external_id: str) -> bool:
    return external_id.startswith(PROVISIONAL_PREFIX)


class LeadStatus(StrEnum):
    """Where the lead stands, from the status of its provider opportunity."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactDetails:
    """What the provider says about a contact. The address is kept for timezone detection."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    address1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    tags: tuple[str, ...] = ()

    def differences(self, other: ContactDetails) -> tuple[str, ...]:
        """The names of the fields whose values differ, in declaration order."""
        return tuple(
            f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)
        )


class Lead(Aggregate):
    """A synced contact. The provider is the source of truth for its details: a change older
    than the one the lead holds (by the provider's own update time) never overwrites it, and a
    deleted lead stays deleted (provider ids are never reused)."""

    def __init__(
        self,
        *,
        id: str,
        sub_account_id: str,
        integration_id: str,
        external_id: str,
        details: ContactDetails,
        timezone: str | None,
        status: LeadStatus,
        assigned_user_id: str | None,
        strategy_id: str | None,
        external_updated_at: datetime | None,
        status_changed_at: datetime | None,
        deleted: bool,
        created_at: datetime,
        updated_at: datetime,
        version: int,
        opportunity_id: str | None = None,
        merged_into_id: str | None = None,
        attribution: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.id = id
        self.sub_account_id = sub_account_id
        self.integration_id = integration_id
        self.external_id = external_id
        self.details = details
        self.timezone = timezone
        self.status = status
        self.assigned_user_id = assigned_user_id
        self.strategy_id = strategy_id
        self.external_updated_at = external_updated_at
        self.status_changed_at = status_changed_at
        self.deleted = deleted
        self.merged_into_id = merged_into_id
        """The lead this one was merged into (then it is deleted too); None if it was not."""
        self.created_at = created_at
        self.updated_at = updated_at
        self.version = version
        self.opportunity_id = opportunity_id
        """The provider's opportunity whose status the lead follows (None: none known yet)."""
        self.attribution: Mapping[str, str] = dict(attribution or {})
        """Where the lead came from at its provider (form, ad, campaign ids), as captured."""

    @classmethod
    def capture(
        cls,
        *,
        id: str,
        sub_account_id: str,
        integration_id: str,
        external_id: str,
        details: ContactDetails,
        now: datetime,
        timezone: str | None = None,
        assigned_user_id: str | None = None,
        strategy_id: str | None = None,
        external_updated_at: datetime | None = None,
        attribution: Mapping[str, str] | None = None,
    ) -> Lead:
        """A contact seen for the first time: open, assigned as the caller decided."""
        _check_ids(sub_account_id=sub_account_id, external_id=external_id)
        lead = cls(
            id=id,
            sub_account_id=sub_account_id,
            integration_id=integration_id,
            external_id=external_id,
            details=details,
            timezone=timezone,
            status=LeadStatus.OPEN,
            assigned_user_id=assigned_user_id,
            strategy_id=strategy_id,
            external_updated_at=external_updated_at,
            status_changed_at=None,
            deleted=False,
            created_at=now,
            updated_at=now,
            version=1,
            attribution=attribution,
        )
        lead._record(
            LeadCaptured(
                **lead._event_base(now, next_version=1),
                first_name=details.first_name,
                last_name=details.last_name,
                email=details.email,
                phone=details.phone,
                company=details.company,
                timezone=timezone,
                status=str(lead.status),
                assigned_user_id=assigned_user_id,
                strategy_id=strategy_id,
                attribution=dict(lead.attribution),
            )
        )
        return lead

    def is_older(self, external_updated_at: datetime | None) -> bool:
        """Whether a change made at `external_updated_at` predates the one the lead holds."""
        return (
            external_updated_at is not None
            and self.external_updated_at is not None
            and external_updated_at < self.external_updated_at
        )

    def sync(
        self,
        *,
        details: ContactDetails,
        now: datetime,
        timezone: str | None = None,
        external_updated_at: datetime | None = None,
    ) -> bool:
        """Take the provider's current details (`timezone` None: keep the lead's). Returns whether
        the lead must be written: not when it is deleted, the change is older than the lead's,
        or nothing is new. A newer update time alone is written (without an event), so that a
        change between the two still counts as older."""
        if self.deleted or self.is_older(external_updated_at):
            return False
        changed = list(self.details.differences(details))
        if timezone is not None and timezone != self.timezone:
            changed.append("timezone")
        newer = external_updated_at is not None and (
            self.external_updated_at is None or external_updated_at > self.external_updated_at
        )
        if not changed and not newer:
            return False
        self.details = details
        if timezone is not None:
            self.timezone = timezone
        if newer:
            self.external_updated_at = external_updated_at
        self.updated_at = now
        if changed:
            self._record(LeadUpdated(**self._event_base(now), changed_fields=tuple(changed)))
        return True

    @property
    def on_provider(self) -> bool:
        """Whether the provider knows the contact (a lead created here waits for its id)."""
        return not is_provisional(self.external_id)

    def edit(self, details: ContactDetails, *, now: datetime) -> tuple[str, ...]:
        """A change made in the platform (not at the provider), to be pushed to it. Returns the
        names of the fields it changed; a deleted lead cannot be edited."""
        if self.deleted:
            raise InvalidArgumentError("a deleted lead cannot be changed")
        changed = self.details.differences(details)
        if changed:
            self.details = details
            self.updated_at = now
            self._record(LeadUpdated(**self._event_base(now), changed_fields=changed))
        return changed

    def link(
        self, external_id: str, *, external_updated_at: datetime | None, now: datetime
    ) -> None:
        """The provider created the contact of a lead made here: it takes the provider's id."""
        if self.on_provider:
            raise InvalidArgumentError("the lead already has its provider id")
        _check_ids(sub_account_id=self.sub_account_id, external_id=external_id)
        self.external_id = external_id
        if external_updated_at is not None:
            self.external_updated_at = external_updated_at
        self.updated_at = now
        self._record(LeadUpdated(**self._event_base(now), changed_fields=("external_id",)))

    def change_status(
        self,
        status: LeadStatus,
        *,
        now: datetime,
        changed_at: datetime | None = None,
        opportunity_id: str | None = None,
    ) -> bool:
        """The provider's opportunity status (of `opportunity_id`, when known), changed at
        `changed_at` (its time, when known). Returns whether the lead must be written. The same
        status again records nothing (the provider announces one change in several events); an
        older change is ignored. The lead follows the opportunity of the change it takes."""
        if self.deleted or self.is_status_older(changed_at):
            return False
        newer = changed_at is not None and (
            self.status_changed_at is None or changed_at > self.status_changed_at
        )
        relinked = opportunity_id is not None and opportunity_id != self.opportunity_id
        if status is self.status and not newer and not relinked:
            return False
        if changed_at is not None:
            self.status_changed_at = changed_at
        if opportunity_id is not None:
            self.opportunity_id = opportunity_id
        self.updated_at = now
        if status is not self.status:
            previous, self.status = self.status, status
            self._record(
                LeadStatusChanged(
                    **self._event_base(now), previous_status=str(previous), status=str(status)
                )
            )
        return True

    def is_status_older(self, changed_at: datetime | None) -> bool:
        """Whether a status change made at `changed_at` predates the one the lead holds."""
        return (
            changed_at is not None
            and self.status_changed_at is not None
            and changed_at < self.status_changed_at
        )

    def set_status(self, status: LeadStatus, *, now: datetime) -> bool:
        """A status set in the platform (not at the provider), to be pushed to the lead's
        opportunity. Returns whether it changed; a deleted lead cannot be changed. The status
        time stays the provider's: the push brings the time the provider records."""
        if self.deleted:
            raise InvalidArgumentError("a deleted lead cannot be changed")
        if status is self.status:
            return False
        previous, self.status = self.status, status
        self.updated_at = now
        self._record(
            LeadStatusChanged(
                **self._event_base(now), previous_status=str(previous), status=str(status)
            )
        )
        return True

    def merge_into(self, survivor: Lead, *, contact_id: str, now: datetime) -> None:
        """The provider merged the contact of this lead, made here and not at the provider yet,
        into `contact_id`, which `survivor` mirrors: this lead ends (deleted, never changing
        again) and names the survivor, which lives on for it."""
        if self.on_provider or self.deleted:
            raise InvalidArgumentError("only a live lead waiting for its contact can be merged")
        if survivor.id == self.id or survivor.integration_id != self.integration_id:
            raise InvalidArgumentError("a lead merges into another lead of its integration")
        self.deleted = True
        self.merged_into_id = survivor.id
        self.updated_at = now
        self._record(
            LeadMerged(
                **{**self._event_base(now), "external_id": contact_id},
                surviving_lead_id=survivor.id,
            )
        )

    def mark_deleted(self, *, now: datetime) -> bool:
        """The contact was deleted at the provider. Returns False if it already was."""
        if self.deleted:
            return False
        self.deleted = True
        self.updated_at = now
        self._record(LeadDeleted(**self._event_base(now)))
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


def _check_ids(**ids: str) -> None:
    violations = tuple(
        FieldViolation(name, f"is required, at most {_ID_MAX} characters")
        for name, value in ids.items()
        if not value or len(value) > _ID_MAX
    )
    if violations:
        raise InvalidArgumentError("the lead's identifiers are not valid", violations)
