"""A Graph lead mapped to the platform's SubmittedLead: its answers to contact details, the rest
kept as answers, its ad attribution as exact strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.meta.leads import submitted_lead
from domain.errors import ProviderError
from domain.lead import ContactDetails
from tests.support.meta import wire_body

PAGE = "104561234567890"


def lead(**changes: Any) -> dict[str, Any]:
    return {**wire_body("lead-retrieval-response.json"), **changes}


def answers(*pairs: tuple[str, list[Any]]) -> list[dict[str, Any]]:
    return [{"name": name, "values": values} for name, values in pairs]


def test_the_reference_lead_maps_to_contact_details_attribution_and_answers() -> None:
    mapped = submitted_lead(lead(), page_id=PAGE, requested_id="1234567890123456")

    assert mapped.external_id == "1234567890123456"
    assert mapped.submitted_at == datetime(2026, 7, 29, 8, 39, 50, tzinfo=UTC)
    assert mapped.details == ContactDetails(
        first_name="Ana",
        last_name="Souza",
        email="ana.souza@example.com",
        phone="+5511987654321",
        city="São Paulo",
    )
    assert mapped.attribution == {
        "page_id": PAGE,
        "ad_id": "120210000000000001",
        "adset_id": "120210000000000011",
        "campaign_id": "120210000000000021",
        "form_id": "987654321098765",
        "platform": "fb",
        "is_organic": "false",
    }
    assert mapped.answers == {
        "which_service_are_you_interested_in?": "solar_panels",
        "preferred_contact_times": "morning, evening",
    }


def test_an_organic_lead_has_no_ad_attribution() -> None:
    organic = lead(is_organic=True)
    for key in ("ad_id", "adset_id", "campaign_id"):
        del organic[key]

    mapped = submitted_lead(organic, page_id=PAGE, requested_id="1234567890123456")

    assert mapped.attribution == {
        "page_id": PAGE,
        "form_id": "987654321098765",
        "platform": "fb",
        "is_organic": "true",
    }


def test_ids_sent_as_numbers_are_kept_as_exact_strings_and_empty_ones_left_out() -> None:
    mapped = submitted_lead(
        lead(id=1234567890123456, ad_id=120210000000000001, adset_id="", campaign_id=None),
        page_id=PAGE,
        requested_id="x",
    )

    assert mapped.external_id == "1234567890123456"
    assert mapped.attribution["ad_id"] == "120210000000000001"
    assert "adset_id" not in mapped.attribution
    assert "campaign_id" not in mapped.attribution


def test_ad_names_are_kept_when_meta_gives_them() -> None:
    mapped = submitted_lead(
        lead(ad_name="Solar - July", adset_name="SP 25-45", campaign_name="Solar leads"),
        page_id=PAGE,
        requested_id="1234567890123456",
    )

    assert mapped.attribution["ad_name"] == "Solar - July"
    assert mapped.attribution["adset_name"] == "SP 25-45"
    assert mapped.attribution["campaign_name"] == "Solar leads"


def test_first_and_last_names_win_over_the_full_name_and_every_standard_key_is_read() -> None:
    body = lead(
        field_data=answers(
            ("full_name", ["Ana Maria Souza"]),
            ("first_name", ["Ana Maria"]),
            ("last_name", ["Souza"]),
            ("email", [" ana@example.com "]),
            ("phone_number", ["+55 11 98765 4321"]),
            ("company_name", ["Sol Ltda"]),
            ("street_address", ["Av. Paulista 1000"]),
            ("city", ["São Paulo"]),
            ("state", ["SP"]),
            ("post_code", ["01310-100"]),
            ("country", ["BR"]),
        )
    )

    mapped = submitted_lead(body, page_id=PAGE, requested_id="1")

    assert mapped.details == ContactDetails(
        first_name="Ana Maria",
        last_name="Souza",
        email="ana@example.com",
        phone="+55 11 98765 4321",
        company="Sol Ltda",
        address1="Av. Paulista 1000",
        city="São Paulo",
        state="SP",
        postal_code="01310-100",
        country="BR",
    )
    assert mapped.answers == {}


@pytest.mark.parametrize(
    ("full_name", "first", "last"),
    [("Ana Maria Souza", "Ana", "Maria Souza"), ("Cher", "Cher", None)],
)
def test_a_full_name_alone_is_split_at_its_first_space(
    full_name: str, first: str, last: str | None
) -> None:
    mapped = submitted_lead(
        lead(field_data=answers(("full_name", [full_name]))), page_id=PAGE, requested_id="1"
    )

    assert (mapped.details.first_name, mapped.details.last_name) == (first, last)


def test_zip_code_is_the_postal_code_and_blank_answers_are_dropped() -> None:
    mapped = submitted_lead(
        lead(
            field_data=answers(
                ("zip_code", ["94107"]),
                ("email", ["   "]),
                ("favourite_colour", []),
                ("budget", [5000]),
                ("odd", [None, {"x": 1}, True]),
            )
        ),
        page_id=PAGE,
        requested_id="1",
    )

    assert mapped.details.postal_code == "94107"
    assert mapped.details.email is None
    assert mapped.answers == {"budget": "5000"}


def test_odd_field_data_never_fails_the_mapping() -> None:
    mapped = submitted_lead(
        lead(field_data=[None, "x", {"name": 3, "values": ["a"]}, {"name": "q", "values": "a"}]),
        page_id=PAGE,
        requested_id="1",
    )

    assert mapped.details == ContactDetails()
    assert mapped.answers == {}


@pytest.mark.parametrize("created", [None, "yesterday", 1785311990])
def test_a_lead_without_a_readable_creation_time_is_a_provider_error(created: object) -> None:
    with pytest.raises(ProviderError, match="created_time"):
        submitted_lead(lead(created_time=created), page_id=PAGE, requested_id="1")


def test_the_answers_stay_out_of_the_leads_repr() -> None:
    mapped = submitted_lead(lead(), page_id=PAGE, requested_id="1234567890123456")

    assert "ana.souza" not in repr(mapped)
    assert "solar_panels" not in repr(mapped)
