"""The fake GHL's data: locations, tokens, contacts, calendars, events, conversations and
pipelines and opportunities, kept in memory in GHL's wire shapes and seeded from JSON.

Seed file (every list optional; objects use GHL's field names)::

    {
      "locations": [{"id", "name", "timezone", "settings": {"allowDuplicateContact"}, ...}],
      "privateIntegrationTokens": [{"token", "locationId"}],
      "oauthClients": [{"clientId", "clientSecret", "refreshTokens": [{"token", "locationId"}]}],
      (a location's "companyId" names its agency, for agency-level installs)
      "contacts": [{"id", "locationId", "email", ...}],
      "calendars": [{"id", "locationId", "name", "slotDuration", "slotInterval",
                     "openHours": [{"daysOfTheWeek": [1, 2], "hours": [{"openHour", ...}]}]}],
      "appointments": [{"id", "calendarId", "locationId", "contactId", "startTime", ...}],
      "pipelines": [{"id", "locationId", "name", "stages": [{"id", "name"}]}],
      "opportunities": [{"id", "locationId", "contactId", "pipelineId", "status", ...}]
    }
"""

from __future__ import annotations

import copy
import json
import random
import string
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Json = dict[str, Any]

_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(slots=True)
class AccessGrant:
    location_id: str  # "" for an agency (Company) token
    kind: str  # "pit", "oauth" (a location's) or "agency"
    expires_at: datetime | None  # None: a Private Integration token does not expire
    company_id: str = ""
    client_id: str = ""


@dataclass(slots=True)
class RefreshGrant:
    client_id: str
    location_id: str  # "" for an agency's refresh token
    used: bool = False
    company_id: str = ""


@dataclass(slots=True)
class AuthorizationCode:
    """A code the authorize page handed out: for one client and redirect URI, used once."""

    client_id: str
    redirect_uri: str
    location_id: str  # "" for an agency-level install
    company_id: str
    scope: str
    expires_at: datetime
    used: bool = False


class FakeState:
    """Everything the fake knows. Not thread-safe: it lives on one event loop."""

    def __init__(self, seed: Json, *, rng: random.Random) -> None:
        self._rng = rng
        self.locations: dict[str, Json] = {}
        self.access: dict[str, AccessGrant] = {}
        self.oauth_clients: dict[str, str] = {}
        self.refresh: dict[str, RefreshGrant] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.installs: dict[tuple[str, str], set[str]] = {}
        """(client id, company id) -> the company's locations the app is installed on."""
        self.contacts: dict[str, Json] = {}
        self.calendars: dict[str, Json] = {}
        self.events: dict[str, Json] = {}  # appointments and block slots, by id
        self.conversations: dict[str, Json] = {}
        self.messages: dict[str, Json] = {}
        self.pipelines: dict[str, Json] = {}
        self.opportunities: dict[str, Json] = {}
        self._load(copy.deepcopy(seed))

    @classmethod
    def from_file(cls, path: Path, *, rng: random.Random) -> FakeState:
        return cls(json.loads(path.read_text()), rng=rng)

    def _load(self, seed: Json) -> None:
        for loc in seed.get("locations", []):
            self.locations[loc["id"]] = loc
        for pit in seed.get("privateIntegrationTokens", []):
            self.access[pit["token"]] = AccessGrant(pit["locationId"], "pit", None)
        for client in seed.get("oauthClients", []):
            self.oauth_clients[client["clientId"]] = client["clientSecret"]
            for grant in client.get("refreshTokens", []):
                self.refresh[grant["token"]] = RefreshGrant(client["clientId"], grant["locationId"])
        now = self.now_iso()
        for contact in seed.get("contacts", []):
            contact.setdefault("dateAdded", now)
            contact.setdefault("dateUpdated", contact["dateAdded"])
            self.contacts[contact["id"]] = contact
        for calendar in seed.get("calendars", []):
            self.calendars[calendar["id"]] = calendar
        for event in seed.get("appointments", []):
            event.setdefault("kind", "appointment")
            self.events[event["id"]] = event
        for pipeline in seed.get("pipelines", []):
            self.pipelines[pipeline["id"]] = pipeline
        for opportunity in seed.get("opportunities", []):
            opportunity.setdefault("createdAt", now)
            opportunity.setdefault("updatedAt", opportunity["createdAt"])
            opportunity.setdefault("lastStatusChangeAt", opportunity["createdAt"])
            self.opportunities[opportunity["id"]] = opportunity

    # --- helpers -----------------------------------------------------------------------------

    def new_id(self) -> str:
        """A GHL-looking id: 20 letters and digits."""
        return "".join(self._rng.choice(_ID_ALPHABET) for _ in range(20))

    def new_token(self, prefix: str) -> str:
        return prefix + "".join(self._rng.choice(_ID_ALPHABET) for _ in range(32))

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    @classmethod
    def now_iso(cls) -> str:
        return cls.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def timezone_of(self, location_id: str) -> ZoneInfo:
        name = self.locations.get(location_id, {}).get("timezone") or "UTC"
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    # --- OAuth -------------------------------------------------------------------------------

    def issue_refresh_token(self, client_id: str, location_id: str, company_id: str = "") -> str:
        token = self.new_token("rt-")
        self.refresh[token] = RefreshGrant(client_id, location_id, company_id=company_id)
        return token

    def issue_access_token(
        self, client_id: str, location_id: str, company_id: str, ttl: timedelta
    ) -> str:
        """A location's access token, or an agency's when `location_id` is empty."""
        token = self.new_token("at-")
        kind = "oauth" if location_id else "agency"
        self.access[token] = AccessGrant(
            location_id, kind, self.now() + ttl, company_id=company_id, client_id=client_id
        )
        return token

    def company_of(self, location_id: str) -> str:
        return str(self.locations.get(location_id, {}).get("companyId", ""))

    def install(self, client_id: str, company_id: str, location_ids: list[str]) -> None:
        self.installs.setdefault((client_id, company_id), set()).update(location_ids)

    def redeem(self, code: str, client_id: str, redirect_uri: str) -> AuthorizationCode | None:
        """The code's grant, once: None when it is unknown, used, expired, or was issued for
        another client or redirect URI (RFC 6749 §4.1.3)."""
        grant = self.codes.get(code)
        if grant is None or grant.used:
            return None
        grant.used = True  # even a refused attempt spends it
        if grant.expires_at <= self.now():
            return None
        if grant.client_id != client_id or grant.redirect_uri != redirect_uri:
            return None
        return grant

    def rotate(
        self, client_id: str, client_secret: str, refresh_token: str, ttl: timedelta
    ) -> tuple[str, str, RefreshGrant] | None:
        """A refresh: consume `refresh_token` and issue (access, refresh, the grant); None
        when the client or the token is unknown, or the token was already used."""
        grant = self.refresh.get(refresh_token)
        if (
            self.oauth_clients.get(client_id) != client_secret
            or grant is None
            or grant.used
            or grant.client_id != client_id
        ):
            return None
        grant.used = True
        company_id = grant.company_id or self.company_of(grant.location_id)
        access = self.issue_access_token(client_id, grant.location_id, company_id, ttl)
        refresh = self.issue_refresh_token(client_id, grant.location_id, grant.company_id)
        return access, refresh, grant

    def revoke(self, client_id: str, *, location_id: str = "", company_id: str = "") -> None:
        """Uninstall: the app's tokens for the location (or for the agency and every location
        of it) stop working, and the install is gone."""

        def concerned(location: str, company: str) -> bool:
            if location_id:
                return location == location_id
            return company == company_id

        for token, access in list(self.access.items()):
            if access.client_id == client_id and concerned(access.location_id, access.company_id):
                del self.access[token]
        for refresh in self.refresh.values():
            company = refresh.company_id or self.company_of(refresh.location_id)
            if refresh.client_id == client_id and concerned(refresh.location_id, company):
                refresh.used = True
        if location_id:
            self.installs.get((client_id, self.company_of(location_id)), set()).discard(location_id)
        else:
            self.installs.pop((client_id, company_id), None)

    def grant_for(self, token: str) -> AccessGrant | None:
        grant = self.access.get(token)
        if grant is None or (grant.expires_at is not None and grant.expires_at <= self.now()):
            return None
        return grant

    # --- contacts ----------------------------------------------------------------------------

    def find_duplicate(self, location_id: str, email: str | None, phone: str | None) -> Json | None:
        """The contact an upsert updates: email first, then phone (GHL's default priority)."""
        for field, value in (("email", email), ("phone", phone)):
            if not value:
                continue
            for contact in self.contacts.values():
                if contact.get("locationId") != location_id:
                    continue
                stored = contact.get(field)
                if isinstance(stored, str) and stored.lower() == value.lower():
                    return contact
        return None

    # --- opportunities -----------------------------------------------------------------------

    def set_opportunity_status(self, opportunity: Json, status: str) -> None:
        """A status change, as GHL records it (a test may call this for a change made at GHL
        whose webhook never came)."""
        now = self.now_iso()
        opportunity.update(status=status, lastStatusChangeAt=now, updatedAt=now)

    # --- calendars ---------------------------------------------------------------------------

    def free_slots(
        self, calendar: Json, start: datetime, end: datetime, tz: ZoneInfo
    ) -> dict[str, Json]:
        """Open hours (in the location's timezone) minus booked events, answered in `tz` as
        ``{"YYYY-MM-DD": {"slots": [iso, ...]}}`` keyed by local dates of `tz`."""
        home = self.timezone_of(calendar["locationId"])
        duration = _minutes(calendar, "slotDuration", "slotDurationUnit", 30)
        interval = _minutes(calendar, "slotInterval", "slotIntervalUnit", duration)
        busy = [
            (_parse(e["startTime"]), _parse(e["endTime"]))
            for e in self.events.values()
            if e.get("calendarId") == calendar["id"]
            and e.get("appointmentStatus") not in ("cancelled", "invalid")
        ]
        result: dict[str, Json] = {}
        day = start.astimezone(home).date()
        while day <= end.astimezone(home).date():
            for slot in _day_slots(calendar, day, home, duration, interval):
                slot_end = slot + timedelta(minutes=duration)
                if start <= slot < end and not any(s < slot_end and slot < e for s, e in busy):
                    local = slot.astimezone(tz)
                    result.setdefault(local.date().isoformat(), {"slots": []})["slots"].append(
                        local.isoformat()
                    )
            day += timedelta(days=1)
        return result

    def is_free(self, calendar: Json, start: datetime) -> bool:
        """Whether a slot starts at `start` and is not booked."""
        days = self.free_slots(calendar, start, start + timedelta(minutes=1), ZoneInfo("UTC"))
        return any(_parse(s) == start for day in days.values() for s in day["slots"])


def _minutes(calendar: Json, value_key: str, unit_key: str, default: int) -> int:
    value = calendar.get(value_key)
    minutes = int(value) if isinstance(value, int | float) and value > 0 else default
    return minutes * 60 if calendar.get(unit_key) == "hours" else minutes


def _day_slots(
    calendar: Json, day: date, tz: ZoneInfo, duration: int, interval: int
) -> list[datetime]:
    # daysOfTheWeek holds 0-6 (calendars.json OpenHour); 0 read as Sunday, as JavaScript counts.
    weekday = (day.weekday() + 1) % 7
    slots: list[datetime] = []
    for rule in calendar.get("openHours", []):
        if weekday not in rule.get("daysOfTheWeek", []):
            continue
        for hours in rule.get("hours", []):
            opens = datetime.combine(day, time(hours["openHour"], hours["openMinute"]), tz)
            closes = datetime.combine(day, time(hours["closeHour"], hours["closeMinute"]), tz)
            slot = opens
            while slot + timedelta(minutes=duration) <= closes:
                slots.append(slot)
                slot += timedelta(minutes=interval)
    return sorted(set(slots))


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as GHL's calendar endpoints take it, or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return _parse(value)
    except ValueError:
        return None
