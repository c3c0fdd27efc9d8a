"""Google Analytics 4's catalogue entry: the config of a property's web stream that the lead funnel
is sent to through the Measurement Protocol, and of the Admin API check of its connection test."""

from __future__ import annotations

from typing import Any

TEMPLATE_NAME = "google_analytics"

# Funnel stage -> GA4 event name: GA4's recommended lead events (API-NOTES §5). A booking maps to
# `qualify_lead`: a lead who books a meeting is the one the sales team treats as qualified, and a
# recommended event lands in GA4's built-in lead-generation reports with no custom definition
# (a custom `book_appointment` would need one); an integration's `eventMap` may say otherwise.
DEFAULT_EVENT_MAP: dict[str, str] = {
    "lead_captured": "generate_lead",
    "booked": "qualify_lead",
    "won": "close_convert_lead",
    "lost": "close_unconvert_lead",
}

_STAGES = tuple(DEFAULT_EVENT_MAP)
# An event name as GA4 accepts it (API-NOTES §3); reserved names are refused when events are sent.
_EVENT_NAME = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,39}$"}

TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": TEMPLATE_NAME,
        "display_name": "Google Analytics",
        "description": "Send every lead's funnel (lead, booked, won or lost) to a GA4 property "
        "as server-side events (Measurement Protocol).",
        "category": "Analytics",
        "icon": "google-analytics",
        "api_version": "v1beta",
        "setup_instructions": (
            "1. In GA4, open Admin → Data streams → your web stream: copy its Measurement ID "
            "(G-…), and under Measurement Protocol API secrets create a secret.\n"
            "2. In Google Cloud, create a service account and a JSON key for it; in GA4, add the "
            "service account's e-mail as a Viewer of the property (Admin → Property access "
            "management).\n"
            "3. Paste the Measurement ID, the secret, the property id (numeric) and the JSON key. "
            "The connection test checks through the Admin API that the secret belongs to the "
            "stream, so that no event is silently lost.\n"
            "Or, where the platform offers it, connect by signing in with Google: pick the web "
            "stream, and the Measurement ID, the secret (created if the stream has none) and the "
            "property id are filled in, with the sign-in replacing the JSON key.\n"
            "4. Optionally: the EU collection host (region `eu`), a currency and a value per "
            "stage, other event names per stage, and `validate` to send to GA4's validation "
            "server while setting the property up (those events are not recorded)."
        ),
        "config_schema": {
            "type": "object",
            "properties": {
                "measurementId": {
                    "type": "string",
                    "title": "Measurement ID of the web stream (G-…)",
                    "pattern": "^G-[A-Z0-9]+$",
                    "required": True,
                },
                "apiSecret": {
                    "type": "string",
                    "title": "Measurement Protocol API secret of that stream",
                    "minLength": 1,
                    "required": True,
                    "encrypted": True,
                },
                "propertyId": {
                    "type": "string",
                    "title": "Property id (numeric), for the connection test",
                    "pattern": "^[0-9]+$",
                },
                "serviceAccountKey": {
                    "type": "string",
                    "title": "Service-account JSON key with read access to the property",
                    "minLength": 1,
                    "encrypted": True,
                },
                "refreshToken": {
                    "type": "string",
                    "title": "Google OAuth refresh token of a user who may read the property "
                    "(set by signing in with Google; instead of a service-account key)",
                    "minLength": 1,
                    "encrypted": True,
                },
                "region": {
                    "type": "string",
                    "title": "Collection host: global, or eu (data collected in the EU)",
                    "enum": ["global", "eu"],
                    "default": "global",
                },
                "currency": {
                    "type": "string",
                    "title": "ISO 4217 currency of the values",
                    "pattern": "^[A-Z]{3}$",
                },
                "value": {
                    "type": "object",
                    "title": "Value per funnel stage (needs a currency)",
                    "properties": {stage: {"type": "number", "minimum": 0} for stage in _STAGES},
                    "additionalProperties": False,
                },
                "eventMap": {
                    "type": "object",
                    "title": "GA4 event name per funnel stage",
                    "properties": {stage: dict(_EVENT_NAME) for stage in _STAGES},
                    "additionalProperties": False,
                },
                "validate": {
                    "type": "boolean",
                    "title": "Send to GA4's validation server instead (events are not recorded)",
                    "default": False,
                },
            },
            "dependentRequired": {"value": ["currency"]},
        },
    },
)

TEMPLATE_NAMES = frozenset(str(template["name"]) for template in TEMPLATES)
