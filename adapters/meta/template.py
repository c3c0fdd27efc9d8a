"""Facebook Ads' catalogue entry. The provider itself is not implemented yet: its connection test
answers "not supported"."""

from __future__ import annotations

from typing import Any

TEMPLATES: tuple[dict[str, Any], ...] = (
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
)
