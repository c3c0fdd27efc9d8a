"""Meta's webhooks as the receive use case needs them (application.ports.WebhookSender and
WebhookHandshake): one POST batches up to 1000 changes of several Pages, each a delivery of its
own; a ``leadgen`` change names the lead (its ``leadgen_id``, the delivery id) and its Page (the
account); the app secret's ``X-Hub-Signature-256`` vouches for every one; the GET handshake
echoes the challenge when the verify token matches."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.meta.wire import exact_id, unix_time
from application.ports import DeliveryFacts, SignatureScheme, WebhookTarget
from domain.values import ProviderAccount, SecretStr
from domain.webhook_delivery import EventKind

NAME = "meta"
"""The route of Meta's webhooks: ``GET``/``POST /webhooks/meta``."""
PAGE_ACCOUNT_KIND = "meta.page"
LEADGEN = "leadgen"
PAGE_OBJECT = "page"
META_SCHEMES = frozenset({SignatureScheme.APP_HMAC_SHA256})
_EVENT_TYPE_MAX = 128

# The keys of one change as `split` hands it out: the change's own, and its entry's id and time.
OBJECT_KEY = "object"
ENTRY_ID_KEY = "entry_id"
ENTRY_TIME_KEY = "entry_time"
FIELD_KEY = "field"
VALUE_KEY = "value"


def page_account(page_id: str) -> ProviderAccount:
    """The Facebook Page as an account an integration can own."""
    return ProviderAccount(PAGE_ACCOUNT_KIND, page_id)


class MetaWebhooks:
    """Meta's WebhookSender and WebhookHandshake."""

    name = NAME
    platform_schemes = META_SCHEMES

    def __init__(self, *, verify_token: SecretStr) -> None:
        self._verify_token = verify_token.reveal().encode()

    def split(self, payload: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        """One mapping per change of every entry: ``{object, entry_id, entry_time, field,
        value}``, the ids as Meta sent them but the entry's id as an exact string. A body with no
        changes at all is one delivery, as it came (read as unhandled)."""
        entries = payload.get("entry")
        if not isinstance(entries, list):
            return (payload,)
        changes: list[Mapping[str, Any]] = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            entry_changes = entry.get("changes")
            for change in entry_changes if isinstance(entry_changes, list) else ():
                if isinstance(change, dict):
                    changes.append(
                        {
                            OBJECT_KEY: payload.get(OBJECT_KEY),
                            ENTRY_ID_KEY: exact_id(entry.get("id")),
                            ENTRY_TIME_KEY: entry.get("time"),
                            FIELD_KEY: change.get(FIELD_KEY),
                            VALUE_KEY: change.get(VALUE_KEY),
                        }
                    )
        return changes or (payload,)

    def read(self, payload: Mapping[str, Any], *, route_event: str | None = None) -> DeliveryFacts:
        """The facts of one change (as `split` hands it out). A ``leadgen`` change naming its
        lead and Page is LEAD_SUBMITTED for that Page, its ``leadgen_id`` the delivery id and
        its ``created_time`` the send time; any other change is UNHANDLED, for the Page it
        names if it names one (an entry of another object, an Instagram account's, names
        none)."""
        field = payload.get(FIELD_KEY)
        event_type = field[:_EVENT_TYPE_MAX] if isinstance(field, str) else ""
        value = payload.get(VALUE_KEY)
        if not isinstance(value, dict):
            value = {}
        page_id = exact_id(value.get("page_id"))
        if page_id is None and payload.get(OBJECT_KEY, PAGE_OBJECT) == PAGE_OBJECT:
            page_id = exact_id(payload.get(ENTRY_ID_KEY))  # a page's entry is the page's id
        account = page_account(page_id) if page_id is not None else None
        leadgen_id = exact_id(value.get("leadgen_id")) if event_type == LEADGEN else None
        if leadgen_id is None or account is None:
            return DeliveryFacts(event_type=event_type, kind=EventKind.UNHANDLED, account=account)
        return DeliveryFacts(
            event_type=event_type,
            kind=EventKind.LEAD_SUBMITTED,
            account=account,
            delivery_id=leadgen_id,
            sent_at=unix_time(value.get("created_time")),
        )

    def accepted_schemes(
        self, target: WebhookTarget, *, routed: bool
    ) -> frozenset[SignatureScheme]:
        """Meta signs every delivery with the platform's app secret, whichever Page it is for."""
        return META_SCHEMES

    def answer(self, query: Mapping[str, str]) -> str | None:
        """``hub.challenge`` verbatim when ``hub.mode`` is ``subscribe`` and ``hub.verify_token``
        is the platform's (compared in constant time); None otherwise (403)."""
        challenge = query.get("hub.challenge")
        token = query.get("hub.verify_token")
        if query.get("hub.mode") != "subscribe" or not challenge or token is None:
            return None
        if not hmac.compare_digest(token.encode(), self._verify_token):
            return None
        return challenge
