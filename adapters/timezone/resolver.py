"""StaticTimezoneResolver: a contact's IANA zone from its address (a small static dataset),
else from its phone number (the `phonenumbers` package's data)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezones

from adapters.timezone import data
from application.ports import TimezoneHints

_US_ZIP = re.compile(r"^(\d{3})\d{2}(?:-?\d{4})?$")
_CA_POSTAL = re.compile(r"^([A-Z])(\d)([A-Z])\s?\d[A-Z]\d$")
_AU_POSTCODE = re.compile(r"^\d{4}$")
_STATE_TABLES = {"US": data.US_STATES, "CA": data.CA_PROVINCES, "AU": data.AU_STATES}
_STATE_NAMES = {"US": data.US_STATE_NAMES, "CA": data.CA_PROVINCE_NAMES, "AU": data.AU_STATE_NAMES}
_DEFAULT_PHONE_REGION = "US"  # GHL's numbers are mostly North American when written nationally


class StaticTimezoneResolver:
    """Resolves in order of precision: postal code, state or province, city, country; then the
    phone number. Postal codes and regions are read for the US, Canada and Australia; a
    country alone counts only when it keeps one time. Without a country, a region code names
    one only if exactly one of the three countries has it (``AL`` is Alabama, ``WA`` is
    nobody's), and a postal code only in Canada's unmistakable form. A phone number counts when
    its prefix lies in one zone. Zones this machine's tz database lacks are never returned."""

    def resolve(self, hints: TimezoneHints) -> str | None:
        return _known(self._from_address(hints)) or _known(_from_phone(hints))

    def _from_address(self, hints: TimezoneHints) -> str | None:
        country = _country(hints.country)
        postal = (hints.postal_code or "").strip().upper()
        region = (hints.state or "").strip()
        city = (hints.city or "").strip().lower()
        if country is None:
            country = _country_of_region(region) or ("CA" if _CA_POSTAL.match(postal) else None)
        return (
            _from_postal_code(country, postal)
            or _from_region(country, region)
            or _from_city(country, city)
            or (data.SINGLE_ZONE_COUNTRIES.get(country) if country else None)
        )


def _country(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    text = value.strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return data.COUNTRY_ALIASES.get(text.lower())


def _region_code(country: str, region: str) -> str | None:
    code = region.upper()
    if code in _STATE_TABLES[country]:
        return code
    return _STATE_NAMES[country].get(region.lower())


def _country_of_region(region: str) -> str | None:
    if not region:
        return None
    owners = [c for c in _STATE_TABLES if _region_code(c, region) is not None]
    return owners[0] if len(owners) == 1 else None


def _from_region(country: str | None, region: str) -> str | None:
    if country not in _STATE_TABLES or not region:
        return None
    code = _region_code(country, region)
    return _STATE_TABLES[country][code] if code else None


def _from_postal_code(country: str | None, postal: str) -> str | None:
    if not postal:
        return None
    if country == "US" and (match := _US_ZIP.match(postal)):
        prefix = int(match.group(1))
        if prefix in data.ZIP3_ZONES:
            return data.ZIP3_ZONES[prefix]
        state = _in_ranges(data.ZIP3_STATES, prefix)
        return data.US_STATES[state] if state else None
    if country == "CA" and (match := _CA_POSTAL.match(postal)):
        letter, district = match.group(1), match.group(1) + match.group(2) + match.group(3)
        province = data.CA_POSTAL_PROVINCES.get(letter) or data.CA_POSTAL_PROVINCES.get(district)
        return data.CA_PROVINCES[province] if province else None
    if country == "AU" and _AU_POSTCODE.match(postal):
        number = int(postal)
        if number in data.AU_POSTCODE_ZONES:
            return data.AU_POSTCODE_ZONES[number]
        state = _in_ranges(data.AU_POSTCODE_STATES, number)
        return data.AU_STATES[state] if state else None
    return None


def _from_city(country: str | None, city: str) -> str | None:
    if not city:
        return None
    if country is not None:
        return data.CITIES.get((country, city))
    zones = {zone for (_, name), zone in data.CITIES.items() if name == city}
    return zones.pop() if len(zones) == 1 else None


def _from_phone(hints: TimezoneHints) -> str | None:
    if not hints.phone or not hints.phone.strip():
        return None
    region = _country(hints.country) or _DEFAULT_PHONE_REGION
    try:
        number = phonenumbers.parse(hints.phone, region)
    except phonenumbers.NumberParseException:
        return None
    zones = {
        data.ZONE_RENAMES.get(zone, zone)
        for zone in phone_timezones.time_zones_for_number(number)
        if zone != phone_timezones.UNKNOWN_TIMEZONE
    }
    return zones.pop() if len(zones) == 1 else None


def _in_ranges(ranges: tuple[tuple[int, int, str], ...], value: int) -> str | None:
    return next((name for low, high, name in ranges if low <= value <= high), None)


def _known(zone: str | None) -> str | None:
    if zone is None:
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return zone
