"""Facebook Ads' catalogue entry: one Facebook Page of a sub-account, its Page or system-user
token, and what is sent back to Meta's Conversions API (a dataset, the CRM's name, the event
name of each funnel stage)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.meta.settings import DEFAULT_GRAPH_VERSION

TEMPLATE_NAME = "facebook_ads"
DEFAULT_LEAD_EVENT_SOURCE = "Sales Platform"
"""The CRM's name Meta shows for the stages sent back (`leadEventSource` unset)."""
DEFAULT_STAGE_MAP: Mapping[str, str] = {
    "lead_captured": "Lead",
    "booked": "Appointment Booked",
    "won": "Converted",
    "lost": "Lost",
}
"""The Conversions API event name of each funnel stage (application.ports.FunnelStage's values)
when the integration's `stageMap` names none."""

_EVENT_NAME = {"type": "string", "minLength": 1, "maxLength": 100}

TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": TEMPLATE_NAME,
        "display_name": "Facebook Ads",
        "description": "Receive leads from a Facebook Page's Lead Ads forms, and send their "
        "funnel stages back to Meta's Conversions API so that Meta optimises for leads that "
        "convert.",
        "category": "Advertising",
        "icon": "facebook",
        "api_version": DEFAULT_GRAPH_VERSION,
        "setup_instructions": (
            "1. In Meta Business Settings, create a system-user token (or a Page token from a "
            "long-lived user token) for the platform's app, for the Page whose lead forms you "
            "run, with the leads_retrieval, pages_manage_metadata, pages_show_list, "
            "pages_read_engagement and ads_management permissions.\n"
            "2. Paste the Page id and the token. The connection test checks the token and "
            "subscribes the app to the Page's leads.\n"
            "3. To send lead stages back to Meta, set the dataset (pixel) id; optionally the "
            "CRM name Meta shows and the event name of each stage."
        ),
        "config_schema": {
            "type": "object",
            "properties": {
                "pageId": {
                    "type": "string",
                    "title": "Facebook Page id",
                    "pattern": "^[0-9]{1,64}$",
                    "required": True,
                },
                "accessToken": {
                    "type": "string",
                    "title": "Page or system-user access token",
                    "minLength": 1,
                    "required": True,
                    "encrypted": True,
                },
                "datasetId": {
                    "type": "string",
                    "title": "Dataset (pixel) id for the Conversions API; without it, nothing "
                    "is sent back",
                    "pattern": "^[0-9]{1,64}$",
                },
                "leadEventSource": {
                    "type": "string",
                    "title": "The CRM name Meta shows for the stages sent back",
                    "minLength": 1,
                    "maxLength": 100,
                    "default": DEFAULT_LEAD_EVENT_SOURCE,
                },
                "stageMap": {
                    "type": "object",
                    "title": "Conversions API event name of each funnel stage",
                    "properties": {stage: _EVENT_NAME for stage in DEFAULT_STAGE_MAP},
                    "additionalProperties": False,
                    "default": dict(DEFAULT_STAGE_MAP),
                },
            },
        },
    },
)

TEMPLATE_NAMES = frozenset(str(template["name"]) for template in TEMPLATES)
