"""A funnel event as GA4 hears it: the lead's pseudonymous client id and one Measurement Protocol
event. Nothing personal leaves here: the lead's e-mail and phone are never read, and the client
id is derived from the platform's lead id (or is the web client id the lead carries)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.ga4.config import Ga4Config
from application.ports.funnel import FunnelEvent, FunnelStage

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# The shape of the client id GA4's web tag sets in the `_ga` cookie (random.timestamp): anything
# else a lead carries is not trusted to be one (it could hold personal data), so it is not sent.
_WEB_CLIENT_ID = re.compile(r"[0-9]{1,20}\.[0-9]{1,20}")
_ID_SPACE = 10**10


def client_id(event: FunnelEvent) -> str:
    """The lead's GA4 `client_id`: the web client id it carries (joins the lead to its web
    session), else one derived from the lead's platform id, stable across its events, that
    says nothing about the lead and has the web tag's shape."""
    carried = event.analytics_client_id
    if carried is not None and _WEB_CLIENT_ID.fullmatch(carried):
        return carried
    digest = hashlib.sha256(f"ga4-client:{event.sub_account_id}:{event.lead_id}".encode()).digest()
    first = int.from_bytes(digest[:8], "big") % _ID_SPACE
    second = int.from_bytes(digest[8:16], "big") % _ID_SPACE
    return f"{first}.{second}"


def timestamp_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def mp_event(event: FunnelEvent, config: Ga4Config) -> dict[str, Any]:
    """The Measurement Protocol event of one funnel step, named by the integration's event map;
    its value and currency when the stage has a value."""
    params: dict[str, Any] = {"lead_source": event.source_template}
    value = config.values.get(event.stage)
    if value is not None:
        params["value"] = value
    if config.currency is not None:
        params["currency"] = config.currency
    if event.stage is FunnelStage.LOST and event.reason:
        params["unconvert_lead_reason"] = event.reason
    return {
        "name": config.event_names[event.stage],
        "timestamp_micros": timestamp_micros(event.occurred_at),
        "params": params,
    }
