"""MetaLeads: a Lead Ads lead read by its id (application.ports.LeadFetcher) and the leads of a
Page's forms since a moment (application.ports.LeadBackfill), its answers mapped
to the platform's contact details and the rest kept as answers, its ad attribution as exact
strings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.meta.auth import PageAuth
from adapters.meta.graph import MetaGraph
from adapters.meta.wire import exact_id, graph_time
from application.ports import ProviderCall
from application.ports.leads_in import SubmittedLead
from domain.errors import ProviderError
from domain.lead import ContactDetails

# The form's standard question keys (API-NOTES §5), each to the contact field it fills; the
# first key of a field that has an answer wins.
_CONTACT_KEYS: Mapping[str, tuple[str, ...]] = {
    "email": ("email",),
    "phone": ("phone_number",),
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "company": ("company_name",),
    "address1": ("street_address",),
    "city": ("city",),
    "state": ("state", "province"),
    "postal_code": ("zip_code", "post_code", "postal_code"),
    "country": ("country",),
}
_FULL_NAME = "full_name"
_STANDARD_KEYS = frozenset({_FULL_NAME, *(k for keys in _CONTACT_KEYS.values() for k in keys)})
_ATTRIBUTION_IDS = ("ad_id", "adset_id", "campaign_id", "form_id")
_ATTRIBUTION_TEXTS = ("ad_name", "adset_name", "campaign_name", "platform")
_ANSWER_MAX = 1000


class MetaLeads:
    """Reads a lead with the integration's Page token (one call per lead: the Page's LeadGen
    budget is small, API-NOTES §5)."""

    def __init__(self, graph: MetaGraph) -> None:
        self._graph = graph

    async def fetch_lead(self, call: ProviderCall, external_id: str) -> SubmittedLead:
        page = PageAuth.from_call(call)
        body = await self._graph.lead(page, external_id)
        return submitted_lead(body, page_id=page.page_id, requested_id=external_id)

    async def submitted_since(self, call: ProviderCall, since: datetime) -> list[SubmittedLead]:
        """Every lead of every form of the Page created after `since`, oldest first (a backfill
        costs a call per form and per 100 leads, on the Page's budget)."""
        page = PageAuth.from_call(call)
        created_after = int(since.timestamp())
        leads: dict[str, SubmittedLead] = {}
        for form_id in await self._graph.leadgen_forms(page):
            for body in await self._graph.form_leads(page, form_id, created_after=created_after):
                lead_id = exact_id(body.get("id"))
                if lead_id is None or graph_time(body.get("created_time")) is None:
                    continue
                leads[lead_id] = submitted_lead(body, page_id=page.page_id, requested_id=lead_id)
        return sorted(leads.values(), key=lambda lead: (lead.submitted_at, lead.external_id))


def submitted_lead(body: Mapping[str, Any], *, page_id: str, requested_id: str) -> SubmittedLead:
    """The platform's view of a Graph lead. Raises ProviderError when Meta's answer has no
    readable ``created_time``."""
    submitted_at = graph_time(body.get("created_time"))
    if submitted_at is None:
        raise ProviderError("Meta's lead has no readable created_time")
    answers = _answers(body.get("field_data"))
    first = _first(answers, "first_name")
    last = _first(answers, "last_name")
    full = _first(answers, _FULL_NAME)
    if full is not None and first is None and last is None:
        first, _, rest = full.partition(" ")
        last = rest.strip() or None
    details = ContactDetails(
        first_name=first,
        last_name=last,
        email=_first(answers, *_CONTACT_KEYS["email"]),
        phone=_first(answers, *_CONTACT_KEYS["phone"]),
        company=_first(answers, *_CONTACT_KEYS["company"]),
        address1=_first(answers, *_CONTACT_KEYS["address1"]),
        city=_first(answers, *_CONTACT_KEYS["city"]),
        state=_first(answers, *_CONTACT_KEYS["state"]),
        postal_code=_first(answers, *_CONTACT_KEYS["postal_code"]),
        country=_first(answers, *_CONTACT_KEYS["country"]),
    )
    attribution = {"page_id": page_id}
    for key in _ATTRIBUTION_IDS:
        value = exact_id(body.get(key))
        if value is not None:
            attribution[key] = value
    for key in _ATTRIBUTION_TEXTS:
        value = body.get(key)
        if isinstance(value, str) and value:
            attribution[key] = value
    organic = body.get("is_organic")
    if isinstance(organic, bool):
        attribution["is_organic"] = "true" if organic else "false"
    return SubmittedLead(
        external_id=exact_id(body.get("id")) or requested_id,
        details=details,
        submitted_at=submitted_at,
        attribution=attribution,
        answers={
            key: ", ".join(values)[:_ANSWER_MAX]
            for key, values in answers.items()
            if key not in _STANDARD_KEYS
        },
    )


def _answers(field_data: Any) -> dict[str, list[str]]:
    """The form's answers by question key: ``values`` is always a list (several for a
    multiple choice); blank values are left out, and so are questions left with none."""
    answers: dict[str, list[str]] = {}
    for entry in field_data if isinstance(field_data, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        values = entry.get("values")
        texts = [
            str(v).strip()
            for v in (values if isinstance(values, list) else ())
            if isinstance(v, str | int | float) and not isinstance(v, bool) and str(v).strip()
        ]
        if texts:
            answers.setdefault(entry["name"], []).extend(texts)
    return answers


def _first(answers: Mapping[str, list[str]], *keys: str) -> str | None:
    return next((answers[key][0] for key in keys if key in answers), None)
