"""The built-in catalogue: templates every installation starts with."""

from __future__ import annotations

from typing import Any

BUILT_IN_TEMPLATES: tuple[dict[str, Any], ...] = (
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
            "1. Install your Marketplace app on the sub-account and exchange the authorization "
            "code for tokens.\n"
            "2. Paste the app's client id and secret, the refresh token and the location id. The "
            "service refreshes the access token itself and keeps the rotated refresh token."
        ),
        "config_schema": {
            "type": "object",
            "properties": {
                "clientId": {"type": "string", "minLength": 1, "required": True, "encrypted": True},
                "clientSecret": {
                    "type": "string",
                    "minLength": 1,
                    "required": True,
                    "encrypted": True,
                },
                "refreshToken": {
                    "type": "string",
                    "minLength": 1,
                    "required": True,
                    "encrypted": True,
                },
                "locationId": {"type": "string", "minLength": 1, "required": True},
                "calendarId": {"type": "string"},
                "pipelineId": {"type": "string"},
                "pipelineStageId": {"type": "string"},
                "webhookSecret": {"type": "string", "encrypted": True},
            },
        },
    },
    {
        "name": "facebook_ads",
        "display_name": "Facebook Ads",
        "description": "Receive leads from Facebook Lead Ads forms.",
        "category": "Advertising",
        "icon": "facebook",
        "api_version": "v21.0",
        "setup_instructions": "Create a system-user token with the leads_retrieval permission.",
        "config_schema": {
            "type": "object",
            "properties": {
                "accessToken": {
                    "type": "string",
                    "minLength": 1,
                    "required": True,
                    "encrypted": True,
                },
                "adAccountId": {"type": "string", "pattern": "^act_[0-9]+$", "required": True},
                "pageId": {"type": "string", "required": True},
                "appSecret": {"type": "string", "encrypted": True},
            },
        },
    },
    {
        "name": "google_analytics",
        "display_name": "Google Analytics",
        "description": "Send conversion events to a GA4 property (Measurement Protocol).",
        "category": "Analytics",
        "icon": "google-analytics",
        "api_version": "v1beta",
        "setup_instructions": "Create a Measurement Protocol API secret in the GA4 data stream.",
        "config_schema": {
            "type": "object",
            "properties": {
                "measurementId": {"type": "string", "pattern": "^G-[A-Z0-9]+$", "required": True},
                "apiSecret": {
                    "type": "string",
                    "minLength": 1,
                    "required": True,
                    "encrypted": True,
                },
                "propertyId": {"type": "string", "pattern": "^[0-9]+$"},
            },
        },
    },
)
