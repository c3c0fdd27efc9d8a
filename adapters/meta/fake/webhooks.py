"""Lead Ads webhooks as Meta sends them (API-NOTES §3, §4): the GET verification handshake and
``leadgen`` notifications POSTed with ``X-Hub-Signature-256`` over the exact body bytes.

Meta's retries are not simulated; ``resend`` repeats a delivery byte for byte instead."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import aiohttp

MAX_CHANGES = 1000  # per POST (API-NOTES §4)

IdStyle = Literal["string", "number", "mixed"]
SignatureMode = Literal["valid", "invalid", "missing"]


@dataclass(frozen=True, slots=True)
class LeadChange:
    """One ``leadgen`` change; `ad_id` None for an organic lead (no ad_id / adgroup_id)."""

    page_id: str
    form_id: str
    leadgen_id: str
    created_time: int
    ad_id: str | None = None


@dataclass(slots=True)
class Delivery:
    """One request the sender made and what came back. `status` None: no answer (`error`)."""

    seq: int
    kind: Literal["leadgen", "verify"]
    url: str
    status: int | None = None
    error: str | None = None
    body: str | None = None  # the POST body, as sent
    signature: str | None = None  # X-Hub-Signature-256 as sent
    legacy_signature: str | None = None  # X-Hub-Signature (sha1), sent beside a valid one
    leadgen_ids: list[str] = field(default_factory=list)
    resent_from: int | None = None
    challenge: str | None = None  # the handshake's hub.challenge
    response_body: str = ""
    response_content_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.kind == "verify":
            data["echoed"] = self.status == 200 and self.response_body == self.challenge
        return data


def sign(body: bytes, secret: str) -> str:
    """``X-Hub-Signature-256``: "sha256=" + lowercase hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _legacy_sign(body: bytes, secret: str) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def leadgen_body(changes: list[LeadChange], *, id_style: IdStyle, entry_time: int) -> bytes:
    """The notification: one entry per page (in order of first appearance), its changes in
    order; compact JSON with non-ASCII escaped. Ids per `id_style`: JSON strings, numbers, or
    mixed (numbers for the 1st, 3rd, ... change of the body, strings for the others)."""
    if not 1 <= len(changes) <= MAX_CHANGES:
        raise ValueError(f"a notification carries 1..{MAX_CHANGES} changes")
    by_page: dict[str, list[LeadChange]] = {}
    for change in changes:
        by_page.setdefault(change.page_id, []).append(change)
    entries, index = [], 0
    for page_id, page_changes in by_page.items():
        wire_changes = []
        for change in page_changes:
            numeric = id_style == "number" or (id_style == "mixed" and index % 2 == 0)
            wire_changes.append({"field": "leadgen", "value": _value(change, numeric=numeric)})
            index += 1
        entries.append({"id": page_id, "time": entry_time, "changes": wire_changes})
    payload = {"object": "page", "entry": entries}
    return json.dumps(payload, separators=(",", ":")).encode()


def _value(change: LeadChange, *, numeric: bool) -> dict[str, Any]:
    def wire(value: str) -> int | str:
        return int(value) if numeric else value

    value: dict[str, Any] = {}
    if change.ad_id is not None:
        value["ad_id"] = value["adgroup_id"] = wire(change.ad_id)
    value.update(
        form_id=wire(change.form_id),
        leadgen_id=wire(change.leadgen_id),
        page_id=wire(change.page_id),
        created_time=change.created_time,
    )
    return value


class WebhookSender:
    """Sends to `url` (the service's webhook route) and keeps every delivery."""

    def __init__(self, url: str | None, *, app_secret: str) -> None:
        self.url = url
        self.app_secret = app_secret
        self.deliveries: list[Delivery] = []
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _target(self) -> str:
        if self.url is None:
            raise LookupError("no webhook URL configured")
        return self.url

    async def post(
        self,
        body: bytes,
        *,
        signature: SignatureMode | str = "valid",
        leadgen_ids: list[str] | None = None,
    ) -> Delivery:
        """POST `body`; `signature`: "valid", "invalid" (signed with another secret),
        "missing", or a header value sent as given."""
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-Hub-Signature-256"] = sign(body, self.app_secret)
            headers["X-Hub-Signature"] = _legacy_sign(body, self.app_secret)
        elif signature == "invalid":
            headers["X-Hub-Signature-256"] = sign(body, self.app_secret + "-not-the-secret")
        elif signature != "missing":
            headers["X-Hub-Signature-256"] = signature
        delivery = Delivery(
            seq=len(self.deliveries),
            kind="leadgen",
            url=self._target(),
            body=body.decode(),
            signature=headers.get("X-Hub-Signature-256"),
            legacy_signature=headers.get("X-Hub-Signature"),
            leadgen_ids=leadgen_ids if leadgen_ids is not None else _leadgen_ids(body),
        )
        self.deliveries.append(delivery)
        await self._send(delivery, "POST", data=body, headers=headers)
        return delivery

    async def resend(self, seq: int | None = None) -> Delivery:
        """Repeat a POST (the last one by default) with the same bytes and signature headers;
        `resent_from` names the first sending."""
        posts = [d for d in self.deliveries if d.kind == "leadgen"]
        if seq is None:
            original = posts[-1] if posts else None
        else:
            original = next((d for d in posts if d.seq == seq), None)
        if original is None or original.body is None:
            raise LookupError("no such webhook POST to resend")
        body = original.body.encode()
        headers = {"Content-Type": "application/json"}
        if original.signature is not None:
            headers["X-Hub-Signature-256"] = original.signature
        if original.legacy_signature is not None:
            headers["X-Hub-Signature"] = original.legacy_signature
        delivery = Delivery(
            seq=len(self.deliveries),
            kind="leadgen",
            url=self._target(),
            body=original.body,
            signature=original.signature,
            legacy_signature=original.legacy_signature,
            leadgen_ids=list(original.leadgen_ids),
            resent_from=original.seq if original.resent_from is None else original.resent_from,
        )
        self.deliveries.append(delivery)
        await self._send(delivery, "POST", data=body, headers=headers)
        return delivery

    async def verify(self, *, verify_token: str, challenge: str, mode: str) -> Delivery:
        """The GET handshake Meta sends when the callback URL is saved."""
        delivery = Delivery(
            seq=len(self.deliveries), kind="verify", url=self._target(), challenge=challenge
        )
        self.deliveries.append(delivery)
        params = {"hub.mode": mode, "hub.challenge": challenge, "hub.verify_token": verify_token}
        await self._send(delivery, "GET", params=params)
        return delivery

    async def _send(self, delivery: Delivery, method: str, **kwargs: Any) -> None:
        try:
            async with self._http().request(method, delivery.url, **kwargs) as resp:
                delivery.status = resp.status
                delivery.response_body = await resp.text()
                delivery.response_content_type = resp.content_type
        except (aiohttp.ClientError, TimeoutError) as err:
            delivery.error = type(err).__name__


def _leadgen_ids(body: bytes) -> list[str]:
    try:
        payload = json.loads(body)
        return [
            str(change["value"]["leadgen_id"])
            for entry in payload["entry"]
            for change in entry["changes"]
        ]
    except (ValueError, KeyError, TypeError):
        return []
