"""The platform's tenant directory and timezone hints, for assigning leads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AssignedUser:
    """Who a new lead goes to, and the sales strategy that user follows."""

    user_id: str
    strategy_id: str | None


class TenantDirectory(Protocol):
    """The platform's sub-accounts and their users (the platform owns them)."""

    async def first_assignable_user(self, sub_account_id: str) -> AssignedUser | None:
        """The sub-account's first non-admin user in the directory's order, or None."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TimezoneHints:
    """What is known of where a contact is. Free text as the provider sent it."""

    postal_code: str | None = None
    state: str | None = None
    city: str | None = None
    country: str | None = None
    phone: str | None = None


class TimezoneResolver(Protocol):
    def resolve(self, hints: TimezoneHints) -> str | None:
        """The IANA zone the hints place the contact in: from the postal code, state, city and
        country, else the phone number; None when they are missing or ambiguous."""
        ...
