"""What the fake GHL's authorize page does on the next sign-ins: set in-process
(``FakeGhl.consent``) or through ``PUT /_fake/oauth/consent``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Json = dict[str, Any]


@dataclass(slots=True)
class Consent:
    """What the person does on the next visits to the authorize page.

    ``install``: ``location`` (a sub-account installs the app: `location_id`, else the first
    seeded location) or ``agency`` (the agency `company_id`, else the first location's, installs
    it on `location_ids`, else on all its locations). ``deny``: the person declines (the page
    redirects back with ``error=access_denied``). ``code_ttl_seconds``: how long a code stays
    redeemable (0: every code is already expired at the token endpoint).
    ``location_token_refresh``: whether ``/oauth/locationToken`` answers carry a refresh token
    (the v3 DTO's shape; False answers v2's documented shape, without one)."""

    install: Literal["location", "agency"] = "location"
    location_id: str | None = None
    company_id: str | None = None
    location_ids: list[str] | None = None
    deny: bool = False
    code_ttl_seconds: float = 600.0
    location_token_refresh: bool = True
    scope: str | None = None
    """The scopes granted; None grants what was asked."""

    @classmethod
    def from_json(cls, data: Json) -> Consent:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TypeError(f"unknown consent fields: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
