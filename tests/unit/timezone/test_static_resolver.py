"""StaticTimezoneResolver: address first (postal code, region, city, country), then the phone."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.ghl import payloads as ghl_webhooks
from adapters.timezone import StaticTimezoneResolver, data
from application.ports import TimezoneHints
from tests.support.reference import GHL_REFERENCE

REFERENCE = GHL_REFERENCE
resolver = StaticTimezoneResolver()


@pytest.fixture
def contact_create() -> dict[str, Any]:
    path = REFERENCE / "webhook-ContactCreate.json"
    assert path.is_file(), f"GHL's reference payloads belong beside the repository, at {REFERENCE}"
    payload: dict[str, Any] = json.loads(path.read_text())
    return payload


def hints_of(payload: dict[str, Any]) -> TimezoneHints:
    contact = ghl_webhooks.contact(payload)
    assert contact is not None
    return TimezoneHints(
        postal_code=contact.postal_code,
        state=contact.state,
        city=contact.city,
        country=contact.country,
        phone=contact.phone,
    )


def test_ghls_example_contact_is_placed_by_its_country(contact_create: dict[str, Any]) -> None:
    # DE keeps one time; "452001" is no German postal code and "AL" no German state.
    assert resolver.resolve(hints_of(contact_create)) == "Europe/Berlin"


def test_without_its_country_the_example_is_placed_by_its_us_state_code(
    contact_create: dict[str, Any],
) -> None:
    payload = {k: v for k, v in contact_create.items() if k != "country"}

    assert resolver.resolve(hints_of(payload)) == "America/Chicago"  # AL: Alabama


def test_without_any_address_the_example_is_placed_by_its_indian_phone_number(
    contact_create: dict[str, Any],
) -> None:
    payload = {
        k: v for k, v in contact_create.items() if k not in {"country", "state", "postalCode"}
    }

    # phonenumbers says Asia/Calcutta: the current name is returned.
    assert resolver.resolve(hints_of(payload)) == "Asia/Kolkata"


@pytest.mark.parametrize(
    ("postal_code", "country", "zone"),
    [
        ("60601", "US", "America/Chicago"),
        ("10001-1234", "US", "America/New_York"),
        ("79901", "US", "America/Denver"),  # El Paso, Texas
        ("32501", "US", "America/Chicago"),  # Pensacola, Florida
        ("33101", "US", "America/New_York"),  # Miami, Florida
        ("96813", "US", "Pacific/Honolulu"),
        ("M5V 2T6", "CA", "America/Toronto"),
        ("t2p1j9", "CA", "America/Edmonton"),
        ("X1A 2L9", "CA", "America/Yellowknife"),
        ("2000", "AU", "Australia/Sydney"),
        ("6000", "AU", "Australia/Perth"),
        ("2880", "AU", "Australia/Broken_Hill"),
    ],
)
def test_a_postal_code_places_the_contact_even_in_a_split_region(
    postal_code: str, country: str, zone: str
) -> None:
    assert resolver.resolve(TimezoneHints(postal_code=postal_code, country=country)) == zone


def test_a_postal_code_beats_the_state_it_refines() -> None:
    hints = TimezoneHints(postal_code="79901", state="TX", country="US")

    assert resolver.resolve(hints) == "America/Denver"


@pytest.mark.parametrize(
    ("state", "country", "zone"),
    [
        ("TX", "US", "America/Chicago"),
        ("California", "United States", "America/Los_Angeles"),
        ("bc", "CA", "America/Vancouver"),
        ("Queensland", "Australia", "Australia/Brisbane"),
        ("WA", "AU", "Australia/Perth"),
        ("WA", "US", "America/Los_Angeles"),
        ("ON", None, "America/Toronto"),
        ("NSW", None, "Australia/Sydney"),
    ],
)
def test_a_state_or_province_places_the_contact(state: str, country: str | None, zone: str) -> None:
    assert resolver.resolve(TimezoneHints(state=state, country=country)) == zone


def test_a_region_code_several_countries_use_needs_the_country() -> None:
    # WA: Washington or Western Australia; NT: Northwest Territories or Northern Territory.
    assert resolver.resolve(TimezoneHints(state="WA")) is None
    assert resolver.resolve(TimezoneHints(state="NT")) is None


def test_a_canadian_postal_code_needs_no_country() -> None:
    assert resolver.resolve(TimezoneHints(postal_code="H2X 1Y4")) == "America/Toronto"


def test_a_us_zip_code_alone_is_not_trusted_without_the_country() -> None:
    # Five digits are a postal code in many countries.
    assert resolver.resolve(TimezoneHints(postal_code="79901")) is None


def test_a_city_places_a_contact_without_state_or_postal_code() -> None:
    assert resolver.resolve(TimezoneHints(city="El Paso", country="US")) == "America/Denver"
    assert resolver.resolve(TimezoneHints(city=" Toronto ")) == "America/Toronto"


def test_a_country_split_between_zones_does_not_place_a_contact_alone() -> None:
    assert resolver.resolve(TimezoneHints(country="US")) is None
    assert resolver.resolve(TimezoneHints(country="BR")) is None


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("GB", "Europe/London"),
        ("fr", "Europe/Paris"),
        ("India", "Asia/Kolkata"),
        ("JP", "Asia/Tokyo"),
    ],
)
def test_a_country_that_keeps_one_time_places_the_contact(country: str, zone: str) -> None:
    assert resolver.resolve(TimezoneHints(country=country)) == zone


@pytest.mark.parametrize(
    ("phone", "country", "zone"),
    [
        ("+13125550101", None, "America/Chicago"),
        ("(212) 555-0100", None, "America/New_York"),
        ("+61 2 9374 4000", None, "Australia/Sydney"),
        ("020 7946 0000", "GB", "Europe/London"),
    ],
)
def test_the_phone_number_places_a_contact_with_no_usable_address(
    phone: str, country: str | None, zone: str
) -> None:
    hints = TimezoneHints(phone=phone, country=country, state="nowhere", city="Atlantis")

    assert resolver.resolve(hints) == zone


@pytest.mark.parametrize(
    "phone", ["+1 800 555 0100", "+61 412 345 678", "not a number", "+999 123", ""]
)
def test_a_phone_number_in_several_zones_or_none_places_nobody(phone: str) -> None:
    assert resolver.resolve(TimezoneHints(phone=phone)) is None


def test_nothing_known_places_nobody() -> None:
    assert resolver.resolve(TimezoneHints()) is None


def test_every_zone_of_the_dataset_exists_in_the_tz_database() -> None:
    tables: list[dict[Any, str]] = [
        data.US_STATES,
        data.CA_PROVINCES,
        data.AU_STATES,
        data.ZIP3_ZONES,
        data.AU_POSTCODE_ZONES,
        data.CITIES,
        data.SINGLE_ZONE_COUNTRIES,
        data.ZONE_RENAMES,
    ]
    zones = {zone for table in tables for zone in table.values()}

    for zone in zones:
        assert ZoneInfo(zone).key == zone
    assert len(data.SINGLE_ZONE_COUNTRIES) > 200


def test_every_region_a_postal_code_names_has_a_zone() -> None:
    assert {state for _, _, state in data.ZIP3_STATES} <= data.US_STATES.keys()
    assert set(data.CA_POSTAL_PROVINCES.values()) <= data.CA_PROVINCES.keys()
    assert {state for _, _, state in data.AU_POSTCODE_STATES} <= data.AU_STATES.keys()
    assert set(data.US_STATE_NAMES.values()) <= data.US_STATES.keys()
