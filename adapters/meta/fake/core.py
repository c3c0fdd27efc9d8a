"""The fake Meta's core: its state and knobs in one object, reachable in-process by tests."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from adapters.meta.fake.errors import Json
from adapters.meta.fake.faults import FaultPlan
from adapters.meta.fake.login import LoginState
from adapters.meta.fake.state import FakeState, TokenGrant
from adapters.meta.fake.submissions import Submission, create_lead
from adapters.meta.fake.usage import Usage
from adapters.meta.fake.webhooks import (
    MAX_CHANGES,
    Delivery,
    IdStyle,
    SignatureMode,
    WebhookSender,
    leadgen_body,
)

# Set by the middleware on each Graph request that carried a live token.
GRANT = web.RequestKey("fake_meta_grant", TokenGrant)


@dataclass(slots=True)
class LoggedRequest:
    """One Graph request, in arrival order. `version`: the path's ``vNN.N`` prefix; no token
    and no query string is kept (tokens are secrets even in a fake's log)."""

    seq: int
    method: str
    path: str
    version: str | None
    route: str | None
    token_type: str | None = None
    appsecret_proof: str | None = None  # None: absent; "valid" or "invalid"
    status: int | None = None
    error_code: int | None = None
    error_subcode: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ReceivedEvent:
    """One Conversions API event accepted, as sent (`event` is the element of ``data``)."""

    dataset_id: str
    event: Json
    version: str | None
    test_event_code: str | None
    fbtrace_id: str
    received_at: float
    extra: Json = field(default_factory=dict)  # other body params (partner_agent, ...)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SubmitResult:
    """The leads created; `skipped`: ids of those whose page has not subscribed the app to
    leadgen (Meta does not notify them; backfill finds them); the deliveries made."""

    leads: list[Json]
    skipped: list[str]
    deliveries: list[Delivery]

    def to_json(self) -> dict[str, Any]:
        return {
            "leads": self.leads,
            "skipped": self.skipped,
            "deliveries": [d.to_json() for d in self.deliveries],
        }


@dataclass(slots=True)
class Settings:
    """What create_app was given, that the control API may change and reset restores."""

    webhook_url: str | None
    require_appsecret_proof: bool
    usage_step_percent: float


class FakeMeta:
    """A stateful stand-in for Meta's Graph API, Facebook Login, Lead Ads webhooks and the
    Conversions API."""

    def __init__(
        self,
        seed: Json,
        *,
        settings: Settings,
        faults: FaultPlan,
        rng: random.Random,
        clock: Callable[[], float],
    ) -> None:
        self.seed = seed
        self.rng = rng
        self.clock = clock
        self.initial_settings = settings
        self.state = FakeState(seed, rng=rng, clock=clock)
        self.login = LoginState(seed, self.state)
        self.faults = faults
        self.require_appsecret_proof = settings.require_appsecret_proof
        self.usage = Usage(step_percent=settings.usage_step_percent)
        self.webhooks = WebhookSender(settings.webhook_url, app_secret=self.state.app_secret)
        self.log: list[LoggedRequest] = []
        self.capi_events: list[ReceivedEvent] = []

    def versions_used(self) -> list[str]:
        """Every Graph version prefix a client used, in order of first use."""
        return list(dict.fromkeys(r.version for r in self.log if r.version is not None))

    def fbtrace_id(self) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(self.rng.choice(alphabet) for _ in range(21))

    def kill_token(self, token: str, subcode: int | None = 463, *, after: int = 0) -> bool:
        """The token answers 190 (with `subcode`) from now on, or after `after` more calls.
        False when the token is unknown."""
        grant = self.state.tokens.get(token)
        if grant is None:
            return False
        grant.dead_subcode = subcode
        if after > 0:
            grant.dies_after = after
        else:
            grant.dead = True
        return True

    async def submit_leads(
        self,
        submissions: list[Submission],
        *,
        deliver: bool = True,
        force: bool = False,
        id_style: IdStyle = "mixed",
        signature: SignatureMode | str = "valid",
        repeat: int = 1,
    ) -> SubmitResult:
        """Create the leads, then notify them in one POST (sent `repeat` times, same bytes).
        `deliver` False: created only (a lost delivery). `force`: notify pages that have not
        subscribed too. ValueError for a bad submission (nothing created), LookupError when
        there is no webhook URL to deliver to."""
        if not 1 <= len(submissions) <= MAX_CHANGES:
            raise ValueError(f"a notification carries 1..{MAX_CHANGES} changes")
        if repeat < 1:
            raise ValueError("repeat must be at least 1")
        if deliver and self.webhooks.url is None:
            raise LookupError("no webhook URL configured")
        created = []
        try:
            for submission in submissions:
                created.append(create_lead(self.state, submission))
        except ValueError:
            for lead, _ in created:
                del self.state.leads[lead["id"]]
            raise
        notified = [
            change
            for _, change in created
            if force or "leadgen" in self.state.pages[change.page_id]["subscribed_fields"]
        ]
        notified_ids = {c.leadgen_id for c in notified}
        deliveries: list[Delivery] = []
        if deliver and notified:
            body = leadgen_body(notified, id_style=id_style, entry_time=int(self.clock()))
            first = await self.webhooks.post(body, signature=signature)
            deliveries.append(first)
            for _ in range(repeat - 1):
                deliveries.append(await self.webhooks.resend(first.seq))
        return SubmitResult(
            leads=[lead for lead, _ in created],
            skipped=[lead["id"] for lead, _ in created if lead["id"] not in notified_ids],
            deliveries=deliveries,
        )

    def reset(self) -> None:
        """Back to the seed and the settings create_app was given; logs and events cleared."""
        self.state = FakeState(self.seed, rng=self.rng, clock=self.clock)
        self.login = LoginState(self.seed, self.state)
        self.faults = FaultPlan()
        settings = self.initial_settings
        self.require_appsecret_proof = settings.require_appsecret_proof
        self.usage = Usage(step_percent=settings.usage_step_percent)
        self.webhooks.url = settings.webhook_url
        self.webhooks.app_secret = self.state.app_secret
        self.webhooks.deliveries.clear()
        self.log.clear()
        self.capi_events.clear()


FAKE_META = web.AppKey("fake_meta", FakeMeta)
