"""Google Analytics 4's catalogue entry. The provider itself is not implemented yet: its connection
test answers "not supported"."""

from __future__ import annotations

from typing import Any

TEMPLATES: tuple[dict[str, Any], ...] = (
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
