"""The demo data the fake starts with when no seed file is given: the ids of the notes' examples
(reference/meta/examples/), so their wire shapes and worked signature apply to it as they are."""

from __future__ import annotations

from typing import Any

DEMO_APP_ID = "1122334455667788"
DEMO_APP_NAME = "Acme CRM Connector"
# The secret of examples/x-hub-signature-256-example.json: its worked digest holds for the fake.
DEMO_APP_SECRET = "3f1c0a9be2d84c7f9a6b5e4d3c2b1a00"  # noqa: S105 - a fake's published demo secret
DEMO_APP_TOKEN = f"{DEMO_APP_ID}|{DEMO_APP_SECRET}"
DEMO_VERIFY_TOKEN = "my-verify-token-123"  # noqa: S105 - the example's verify token

DEMO_USER_ID = "10158765432109876"
DEMO_USER_NAME = "Ana Admin"
"""Who signs in at the fake's Facebook Login: an admin of both demo pages."""

# The demo page: has not subscribed the app to leadgen yet (the connection test does it).
DEMO_PAGE_ID = "104561234567890"
DEMO_PAGE_NAME = "Acme Solar"
DEMO_PAGE_TOKEN = "EAAFakeMetaDemoPageToken0001"  # noqa: S105 - a fake's published demo token
DEMO_FORM_ID = "987654321098765"
DEMO_AD_ID = "120210000000000001"
DEMO_ADSET_ID = "120210000000000011"
DEMO_CAMPAIGN_ID = "120210000000000021"
DEMO_LEAD_ID = "1234567890123456"

# A second page, already subscribed to leadgen, that no integration needs to own: batches across
# pages, and changes for a page nobody connected.
DEMO_SECOND_PAGE_ID = "209876543210987"
DEMO_SECOND_PAGE_TOKEN = "EAAFakeMetaDemoPageToken0002"  # noqa: S105 - a fake's demo token
DEMO_SECOND_FORM_ID = "555555555555555"

# A system-user token that reaches both pages (and so every lead and form of them).
DEMO_SYSTEM_USER_TOKEN = "EAAFakeMetaDemoSystemUser0001"  # noqa: S105 - a fake's demo token
# A page token of the demo page that expired (debug_token's example expiry): 190 / 463.
DEMO_EXPIRED_TOKEN = "EAAFakeMetaDemoExpiredToken1"  # noqa: S105 - a fake's demo token

DEMO_DATASET_ID = "778899001122334"

# What the notes' connection test checks for (API-NOTES §2).
DEMO_SCOPES = (
    "leads_retrieval",
    "pages_manage_metadata",
    "pages_show_list",
    "pages_read_engagement",
    "ads_management",
)

_ISSUED_AT = 1785300000
_DATA_ACCESS_EXPIRES_AT = 1793000000

DEFAULT_SEED: dict[str, Any] = {
    "app": {
        "id": DEMO_APP_ID,
        "secret": DEMO_APP_SECRET,
        "name": DEMO_APP_NAME,
        "verify_token": DEMO_VERIFY_TOKEN,
        "category": "Business",
        "link": "https://crm.example.com/",
    },
    "pages": [
        {"id": DEMO_PAGE_ID, "name": DEMO_PAGE_NAME, "subscribed_fields": []},
        {"id": DEMO_SECOND_PAGE_ID, "name": "Acme Roofing", "subscribed_fields": ["leadgen"]},
    ],
    "tokens": [
        {
            "token": DEMO_PAGE_TOKEN,
            "type": "PAGE",
            "page_ids": [DEMO_PAGE_ID],
            "scopes": list(DEMO_SCOPES),
            "user_id": DEMO_USER_ID,
            "issued_at": _ISSUED_AT,
            "expires_at": 0,
            "data_access_expires_at": _DATA_ACCESS_EXPIRES_AT,
        },
        {
            "token": DEMO_SECOND_PAGE_TOKEN,
            "type": "PAGE",
            "page_ids": [DEMO_SECOND_PAGE_ID],
            "scopes": list(DEMO_SCOPES),
            "user_id": DEMO_USER_ID,
            "issued_at": _ISSUED_AT,
            "expires_at": 0,
            "data_access_expires_at": _DATA_ACCESS_EXPIRES_AT,
        },
        {
            "token": DEMO_SYSTEM_USER_TOKEN,
            "type": "SYSTEM_USER",
            "page_ids": [DEMO_PAGE_ID, DEMO_SECOND_PAGE_ID],
            "scopes": [*DEMO_SCOPES, "pages_manage_ads"],
            "user_id": "10158765432100001",
            "name": "Acme CRM System User",
            "issued_at": _ISSUED_AT,
            "expires_at": 0,
            "data_access_expires_at": _DATA_ACCESS_EXPIRES_AT,
        },
        {
            "token": DEMO_EXPIRED_TOKEN,
            "type": "PAGE",
            "page_ids": [DEMO_PAGE_ID],
            "scopes": list(DEMO_SCOPES),
            "user_id": DEMO_USER_ID,
            "issued_at": 1780000000,
            "expires_at": 1785200000,
            "data_access_expires_at": _DATA_ACCESS_EXPIRES_AT,
        },
    ],
    "forms": [
        {"id": DEMO_FORM_ID, "page_id": DEMO_PAGE_ID, "name": "Solar quote"},
        {"id": DEMO_SECOND_FORM_ID, "page_id": DEMO_SECOND_PAGE_ID, "name": "Roof inspection"},
    ],
    "ads": [
        {
            "id": DEMO_AD_ID,
            "name": "Solar - summer",
            "adset_id": DEMO_ADSET_ID,
            "adset_name": "Homeowners 30-60",
            "campaign_id": DEMO_CAMPAIGN_ID,
            "campaign_name": "Solar leads",
            "form_id": DEMO_FORM_ID,
        }
    ],
    "leads": [
        {
            "id": DEMO_LEAD_ID,
            "created_time": "2026-07-29T08:39:50+0000",
            "ad_id": DEMO_AD_ID,
            "form_id": DEMO_FORM_ID,
            "is_organic": False,
            "platform": "fb",
            "field_data": [
                {"name": "full_name", "values": ["Ana Souza"]},
                {"name": "email", "values": ["ana.souza@example.com"]},
                {"name": "phone_number", "values": ["+5511987654321"]},
                {"name": "city", "values": ["São Paulo"]},
                {"name": "which_service_are_you_interested_in?", "values": ["solar_panels"]},
                {"name": "preferred_contact_times", "values": ["morning", "evening"]},
            ],
        }
    ],
    "datasets": [{"id": DEMO_DATASET_ID, "name": "Acme CRM dataset"}],
    "users": [
        {
            "id": DEMO_USER_ID,
            "name": DEMO_USER_NAME,
            "page_ids": [DEMO_PAGE_ID, DEMO_SECOND_PAGE_ID],
        }
    ],
}
