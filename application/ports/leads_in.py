"""Leads announced by a provider's delivery and fetched from it (a Lead Ads form submission
names the lead; its answers are read from the provider)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from application.ports.providers import ProviderCall
from domain.lead import ContactDetails


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmittedLead:
    """A lead as the provider holds it, in the platform's terms."""

    external_id: str
    """The provider's id of the lead, as an exact string."""
    details: ContactDetails = field(repr=False)
    submitted_at: datetime
    attribution: Mapping[str, str] = field(default_factory=dict)
    """Where it came from (form, ad, ad set, campaign, page ids), as exact strings; empty
    values left out (an organic lead has no ad)."""
    answers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The form's other answers by question key: personal data, never logged."""


class LeadFetcher(Protocol):
    """A provider capability: reads a submitted lead by its id."""

    async def fetch_lead(self, call: ProviderCall, external_id: str) -> SubmittedLead:
        """The lead. Raises NotFoundError when the provider has no such lead (or it is past its
        retention), ProviderError otherwise (retryable or not, as the provider says)."""
        ...


class LeadBackfill(Protocol):
    """A provider capability: lists the leads submitted on an integration's account since a
    moment, so that ones whose delivery was lost are captured all the same."""

    async def submitted_since(self, call: ProviderCall, since: datetime) -> Sequence[SubmittedLead]:
        """Every lead submitted after `since`, oldest first. Raises ProviderError (or a
        subclass) when the provider cannot be read now."""
        ...
