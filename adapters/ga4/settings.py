"""Where the GA4 provider sends its calls: Google's hosts by default, a fake's in tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MP_BASE_URL = "https://www.google-analytics.com"
MP_EU_BASE_URL = "https://region1.google-analytics.com"
ADMIN_BASE_URL = "https://analyticsadmin.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret


@dataclass(frozen=True, slots=True)
class Ga4Settings:
    """The Measurement Protocol's hosts (global and EU collection), the Admin API's, and the one
    token endpoint a service-account key may name: the key is the tenant's, and its `token_uri`
    must not send the service's requests anywhere else."""

    mp_base_url: str = MP_BASE_URL
    mp_eu_base_url: str = MP_EU_BASE_URL
    admin_base_url: str = ADMIN_BASE_URL
    token_url: str = TOKEN_URL

    def mp_base_url_for(self, region: str) -> str:
        return self.mp_eu_base_url if region == "eu" else self.mp_base_url

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ga4Settings:
        """`GA4_MP_BASE_URL` stands in for both collection hosts (a fake serves both),
        `GA4_ADMIN_BASE_URL` for the Admin API, `GA4_TOKEN_URL` for Google's token endpoint;
        each unset or empty one keeps Google's."""
        mp = env.get("GA4_MP_BASE_URL", "").strip().rstrip("/")
        admin = env.get("GA4_ADMIN_BASE_URL", "").strip().rstrip("/")
        token = env.get("GA4_TOKEN_URL", "").strip()
        return cls(
            mp_base_url=mp or MP_BASE_URL,
            mp_eu_base_url=mp or MP_EU_BASE_URL,
            admin_base_url=admin or ADMIN_BASE_URL,
            token_url=token or TOKEN_URL,
        )
