"""Form submissions: a lead created at the fake as a person's submission creates it, and the
``leadgen`` change Meta notifies for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.meta.fake.errors import Json
from adapters.meta.fake.state import FakeState
from adapters.meta.fake.webhooks import LeadChange

_PEOPLE = (
    ("Ana Souza", "ana.souza", "+5511987654321", "São Paulo"),
    ("John Miller", "john.miller", "+13125550123", "Chicago"),
    ("Marie Dubois", "marie.dubois", "+33612345678", "Lyon"),
)


@dataclass(frozen=True, slots=True)
class Submission:
    """What a submission names; the rest defaults: the page's first form, the form's first ad
    (none: organic), a demo person's answers (unique email), now."""

    page_id: str | None = None
    form_id: str | None = None
    ad_id: str | None = None
    organic: bool = False
    field_data: list[Json] | None = None
    platform: str = "fb"
    created_time: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Submission:
        """Raises TypeError or ValueError for an unknown key or a bad value."""
        data = dict(data)
        for key in ("page_id", "form_id", "ad_id"):
            if data.get(key) is not None:
                data[key] = str(data[key])
        if "fields" in data:  # {"email": "a@b.c", "colour": ["red", "blue"]}
            fields = data.pop("fields")
            data["field_data"] = [
                {"name": k, "values": v if isinstance(v, list) else [v]} for k, v in fields.items()
            ]
        return cls(**data)


def create_lead(state: FakeState, submission: Submission) -> tuple[Json, LeadChange]:
    """The lead stored and its change; ValueError for an unknown page or form."""
    form_id = submission.form_id
    page_id = submission.page_id
    if form_id is None:
        page_id = page_id or next(iter(state.pages), None)
        if page_id is None or page_id not in state.pages:
            raise ValueError(f"unknown page {page_id}")
        form_id = state.first_form_of_page(page_id)
        if form_id is None:
            raise ValueError(f"page {page_id} has no form")
    form_page = state.page_of_form(form_id)
    if form_page is None:
        raise ValueError(f"unknown form {form_id}")
    if page_id is not None and page_id != form_page:
        raise ValueError(f"form {form_id} is not on page {page_id}")
    ad_id = None if submission.organic else submission.ad_id or state.first_ad_of_form(form_id)
    created = submission.created_time if submission.created_time is not None else state.now()
    lead = state.add_lead(
        form_id,
        field_data=submission.field_data or _demo_answers(len(state.leads)),
        ad_id=ad_id,
        created_time=int(created),
        platform=submission.platform,
    )
    change = LeadChange(
        page_id=form_page,
        form_id=form_id,
        leadgen_id=lead["id"],
        created_time=int(created),
        ad_id=ad_id,
    )
    return lead, change


def _demo_answers(n: int) -> list[Json]:
    name, email, phone, city = _PEOPLE[n % len(_PEOPLE)]
    return [
        {"name": "full_name", "values": [name]},
        {"name": "email", "values": [f"{email}+{n}@example.com"]},
        {"name": "phone_number", "values": [phone]},
        {"name": "city", "values": [city]},
    ]
