"""The fake Meta's data, kept in memory in Graph's wire shapes and seeded from JSON.

Seed file (every list optional; ``seed.py`` holds the demo)::

    {
      "app": {"id", "secret", "name", "verify_token", "category", "link"},
      "pages": [{"id", "name", "subscribed_fields": ["leadgen"]}],
      "tokens": [{"token", "type": "PAGE|SYSTEM_USER|USER", "page_ids": [...], "scopes": [...],
                  "user_id", "name", "app_id", "issued_at", "expires_at": 0,
                  "data_access_expires_at"}],
      "forms": [{"id", "page_id", "name"}],
      "ads": [{"id", "name", "adset_id", "adset_name", "campaign_id", "campaign_name",
               "form_id"}],
      "leads": [{"id", "form_id", "created_time": "2026-07-29T08:39:50+0000", "ad_id",
                 "is_organic", "platform", "field_data": [{"name", "values": [...]}]}],
      "datasets": [{"id", "name"}],
      "users": [...], "login": {...}   (Facebook Login: login.py)
    }

A token's ``page_ids`` are the pages it acts on (a page token's own page; a system user's
pages); ``expires_at`` 0 never expires. The app token is ``{app id}|{app secret}``.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from adapters.meta.fake.errors import Json

GRAPH_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# Scopes granted per page: debug_token lists the page ids as their granular target_ids.
PAGE_SCOPES = frozenset(
    {
        "pages_show_list",
        "leads_retrieval",
        "pages_manage_metadata",
        "pages_read_engagement",
        "pages_manage_ads",
    }
)


@dataclass(slots=True)
class TokenGrant:
    """What a token may do. `dead_subcode` / `dead`: it died (190) with that subcode."""

    token: str = field(repr=False)
    kind: str  # PAGE, SYSTEM_USER, USER or APP
    app_id: str
    page_ids: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    declined: tuple[str, ...] = ()  # a user token's permissions the person declined
    user_id: str | None = None
    name: str | None = None
    issued_at: int = 0
    expires_at: int = 0  # 0: never
    data_access_expires_at: int = 0
    dead: bool = False
    dead_subcode: int | None = None
    dies_after: int | None = None  # calls it still answers before it dies

    def expired(self, now: float) -> bool:
        return self.expires_at != 0 and self.expires_at <= now

    def death(self, now: float) -> tuple[bool, int | None]:
        """(dead, subcode): killed, or past its expiry (463, session expired)."""
        if self.dead:
            return True, self.dead_subcode
        if self.expired(now):
            return True, 463
        return False, None

    def reaches(self, page_id: str) -> bool:
        return page_id in self.page_ids


class FakeState:
    """Everything the fake knows. Not thread-safe: it lives on one event loop."""

    def __init__(self, seed: Json, *, rng: random.Random, clock: Callable[[], float]) -> None:
        self._rng = rng
        self._clock = clock
        seed = copy.deepcopy(seed)
        app = seed.get("app", {})
        self.app_id: str = str(app.get("id", "1"))
        self.app_secret: str = str(app.get("secret", ""))
        self.app_name: str = str(app.get("name", "Fake app"))
        self.verify_token: str = str(app.get("verify_token", ""))
        self.app_category: str = str(app.get("category", "Business"))
        self.app_link: str = str(app.get("link", ""))
        self.pages: dict[str, Json] = {}
        self.tokens: dict[str, TokenGrant] = {}
        self.forms: dict[str, Json] = {}
        self.ads: dict[str, Json] = {}
        self.leads: dict[str, Json] = {}
        self.datasets: dict[str, Json] = {}
        self._load(seed)

    def _load(self, seed: Json) -> None:
        for page in seed.get("pages", []):
            page["id"] = str(page["id"])
            page.setdefault("subscribed_fields", [])
            self.pages[page["id"]] = page
        for t in seed.get("tokens", []):
            self.add_token(
                TokenGrant(
                    token=t["token"],
                    kind=t.get("type", "PAGE"),
                    app_id=str(t.get("app_id", self.app_id)),
                    page_ids=tuple(str(p) for p in t.get("page_ids", [])),
                    scopes=tuple(t.get("scopes", [])),
                    user_id=t.get("user_id"),
                    name=t.get("name"),
                    issued_at=int(t.get("issued_at", 0)),
                    expires_at=int(t.get("expires_at", 0)),
                    data_access_expires_at=int(t.get("data_access_expires_at", 0)),
                )
            )
        for form in seed.get("forms", []):
            form["id"], form["page_id"] = str(form["id"]), str(form["page_id"])
            self.forms[form["id"]] = form
        for ad in seed.get("ads", []):
            self.ads[str(ad["id"])] = {k: str(v) for k, v in ad.items()}
        for lead in seed.get("leads", []):
            lead["id"], lead["form_id"] = str(lead["id"]), str(lead["form_id"])
            ad = self.ads.get(str(lead.get("ad_id", "")))
            for key, value in ({} if ad is None else ad_fields(ad)).items():
                lead.setdefault(key, value)
            self.leads[lead["id"]] = _in_wire_order(lead)
        for dataset in seed.get("datasets", []):
            dataset["id"] = str(dataset["id"])
            self.datasets[dataset["id"]] = dataset

    # --- helpers -----------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def new_id(self, digits: int) -> str:
        """A Graph-looking numeric id (leads: 16 digits, ads: 18) not used yet."""
        while True:
            first = str(self._rng.randint(1, 9))
            candidate = first + "".join(str(self._rng.randint(0, 9)) for _ in range(digits - 1))
            if candidate not in self.leads and candidate not in self.ads:
                return candidate

    def new_token(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "EAAFake" + "".join(self._rng.choice(alphabet) for _ in range(40))

    # --- tokens ------------------------------------------------------------------------------

    def add_token(self, grant: TokenGrant) -> None:
        self.tokens[grant.token] = grant

    def grant_for(self, token: str) -> TokenGrant | None:
        """The token's grant, dead or alive; the app token is recognised by its secret."""
        if token == f"{self.app_id}|{self.app_secret}" and self.app_secret:
            return TokenGrant(token=token, kind="APP", app_id=self.app_id)
        return self.tokens.get(token)

    # --- leads -------------------------------------------------------------------------------

    def page_of_form(self, form_id: str) -> str | None:
        form = self.forms.get(form_id)
        return None if form is None else str(form["page_id"])

    def page_of_lead(self, lead: Json) -> str | None:
        return self.page_of_form(str(lead["form_id"]))

    def add_lead(
        self,
        form_id: str,
        *,
        field_data: list[Json],
        ad_id: str | None,
        created_time: int,
        platform: str = "fb",
    ) -> Json:
        """A lead as a form submission creates it; ad fields from the ad unless organic."""
        lead: Json = {
            "id": self.new_id(16),
            "created_time": graph_time(created_time),
        }
        if ad_id is not None:
            ad = self.ads.get(ad_id)
            lead.update(ad_fields(ad) if ad is not None else {"ad_id": ad_id})
        lead.update(
            form_id=form_id,
            is_organic=ad_id is None,
            platform=platform,
            field_data=field_data,
        )
        self.leads[lead["id"]] = lead
        return lead

    def leads_of_form(self, form_id: str) -> list[Json]:
        """The form's leads, newest first (ties: the larger id first)."""
        leads = [lead for lead in self.leads.values() if lead["form_id"] == form_id]
        return sorted(leads, key=lambda lead: (unix_time(lead["created_time"]), lead["id"]))[::-1]

    def first_ad_of_form(self, form_id: str) -> str | None:
        return next((ad["id"] for ad in self.ads.values() if ad.get("form_id") == form_id), None)

    def first_form_of_page(self, page_id: str) -> str | None:
        return next((f["id"] for f in self.forms.values() if f["page_id"] == page_id), None)

    def to_json(self) -> Json:
        """The state for the control API; secrets and tokens left out."""
        return {
            "app": {"id": self.app_id, "name": self.app_name},
            "pages": list(self.pages.values()),
            "forms": list(self.forms.values()),
            "ads": list(self.ads.values()),
            "leads": list(self.leads.values()),
            "datasets": list(self.datasets.values()),
            "tokens": [
                {"type": g.kind, "page_ids": list(g.page_ids), "dead": g.death(self.now())[0]}
                for g in self.tokens.values()
            ],
        }


_LEAD_ORDER = (
    "id", "created_time", "ad_id", "ad_name", "adset_id", "adset_name", "campaign_id",
    "campaign_name", "form_id", "is_organic", "platform", "field_data",
)  # fmt: skip


def _in_wire_order(lead: Json) -> Json:
    """The lead's keys in the retrieval example's order, then any others."""
    first = {k: lead[k] for k in _LEAD_ORDER if k in lead}
    return {**first, **{k: v for k, v in lead.items() if k not in first}}


def ad_fields(ad: Json) -> Json:
    """The ad-level fields a lead from this ad carries (RETR: ad, ad set and campaign)."""
    names = {"id": "ad_id", "name": "ad_name"}
    keys = ("id", "name", "adset_id", "adset_name", "campaign_id", "campaign_name")
    return {names.get(k, k): ad[k] for k in keys if k in ad}


def graph_time(unix: float) -> str:
    """Graph's time format: ``2026-07-29T08:39:50+0000`` (no colon in the offset)."""
    return datetime.fromtimestamp(int(unix), UTC).strftime(GRAPH_TIME_FORMAT)


def unix_time(value: str) -> int:
    return int(datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp())
