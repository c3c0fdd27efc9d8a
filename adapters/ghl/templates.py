"""GoHighLevel's catalogue entries: a private-integration token's template and the Marketplace
app's (OAuth 2.0), with their config schemas."""

from __future__ import annotations

from typing import Any

TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": "gohighlevel",
        "display_name": "GoHighLevel CRM",
        "description": "Sync contacts, calendars, appointments and conversations with GoHighLevel.",
        "category": "CRM",
        "icon": "gohighlevel",
        "api_version": "2021-07-28",
        "setup_instructions": (
            "1. In GoHighLevel, open Settings → Private Integrations and create a token with the "
            "contacts, calendars, conversations, locations and opportunities scopes.\n"
            "2. Paste the token as the API key and the sub-account's location id.\n"
            "3. Optionally set a default calendar, the pipeline (and stage) of the "
            "opportunities made for leads whose status is set here, and a webhook secret."
        ),
        "config_schema": {
            "type": "object",
            "properties": {
                "apiKey": {
                    "type": "string",
                    "title": "API key (Private Integration token)",
                    "minLength": 1,
                    "required": True,
                    "encrypted": True,
                },
                "locationId": {
                    "type": "string",
                    "title": "Location (sub-account) id",
                    "minLength": 1,
                    "required": True,
                },
                "calendarId": {"type": "string", "title": "Default calendar id"},
                "pipelineId": {
                    "type": "string",
                    "title": "Pipeline of the opportunities made for leads (default: the first)",
                },
                "pipelineStageId": {
                    "type": "string",
                    "title": "Their stage in that pipeline (default: its first)",
                },
                "webhookSecret": {
                    "type": "string",
                    "title": "Webhook signing secret",
                    "encrypted": True,
                },
            },
        },
    },
    {
        "name": "gohighlevel_oauth",
        "display_name": "GoHighLevel CRM (Marketplace app, OAuth 2.0)",
        "description": "GoHighLevel through a Marketplace app: OAuth 2.0 with rotating refresh "
        "tokens instead of a Private Integration token.",
        "category": "CRM",
        "icon": "gohighlevel",
        "api_version": "2021-07-28",
        "setup_instructions": (
            "1. Click Connect and sign in to GoHighLevel: pick the sub-account (or, as an agency, "
            "the sub-accounts) to install the service's Marketplace app on. The service stores "
            "the tokens, refreshes them itself and keeps each rotated refresh token.\n"
            "2. Optionally set a default calendar, the pipeline (and stage) of the "
            "opportunities made for leads, and a webhook secret.\n"
            "Connecting through an app of your own instead: paste its client id and secret, a "
            "refresh token from its install and the location id."
        ),
        "config_schema": {
            "type": "object",
            "properties": {
                # Optional: without them the service's own app (GHL_OAUTH_CLIENT_ID) is used.
                "clientId": {"type": "string", "minLength": 1, "encrypted": True},
                "clientSecret": {"type": "string", "minLength": 1, "encrypted": True},
                "refreshToken": {
                    "type": "string",
                    "minLength": 1,
                    "required": True,
                    "encrypted": True,
                },
                "locationId": {"type": "string", "minLength": 1, "required": True},
                "companyId": {
                    "type": "string",
                    "title": "Agency (company) id, when connected through an agency's install",
                },
                "calendarId": {"type": "string"},
                "pipelineId": {"type": "string"},
                "pipelineStageId": {"type": "string"},
                "webhookSecret": {"type": "string", "encrypted": True},
            },
        },
    },
)

TEMPLATE_NAMES = frozenset(str(template["name"]) for template in TEMPLATES)
