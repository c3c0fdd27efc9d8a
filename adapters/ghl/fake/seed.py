"""The demo data the fake starts with when no seed file is given."""

from __future__ import annotations

from typing import Any

DEMO_LOCATION_ID = "fakeLocation00000001"
DEMO_PRIVATE_TOKEN = "pit-fake-demo-token-0001"  # noqa: S105 - a fake's published demo token
DEMO_CLIENT_ID = "fake-ghl-client"
DEMO_CLIENT_SECRET = "fake-ghl-client-secret"  # noqa: S105 - a fake's published demo secret
DEMO_REFRESH_TOKEN = "rt-fake-demo-refresh-0001"  # noqa: S105 - a fake's published demo token

_WEEKDAYS_9_TO_5 = [
    {
        "daysOfTheWeek": [1, 2, 3, 4, 5],
        "hours": [{"openHour": 9, "openMinute": 0, "closeHour": 17, "closeMinute": 0}],
    }
]

DEFAULT_SEED: dict[str, Any] = {
    "locations": [
        {
            "id": DEMO_LOCATION_ID,
            "companyId": "fakeCompany000000001",
            "name": "Fake Dental Clinic",
            "email": "front-desk@fake-dental.example",
            "phone": "+13125550100",
            "city": "Chicago",
            "state": "IL",
            "country": "US",
            "timezone": "America/Chicago",
            "settings": {"allowDuplicateContact": False, "allowDuplicateOpportunity": False},
        }
    ],
    "privateIntegrationTokens": [{"token": DEMO_PRIVATE_TOKEN, "locationId": DEMO_LOCATION_ID}],
    "oauthClients": [
        {
            "clientId": DEMO_CLIENT_ID,
            "clientSecret": DEMO_CLIENT_SECRET,
            "refreshTokens": [{"token": DEMO_REFRESH_TOKEN, "locationId": DEMO_LOCATION_ID}],
        }
    ],
    "contacts": [
        {
            "id": "fakeContact000000001",
            "locationId": DEMO_LOCATION_ID,
            "firstName": "Ada",
            "lastName": "Lovelace",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "+13125550101",
            "timezone": "America/Chicago",
            "tags": ["demo"],
            "customFields": [],
            "dateAdded": "2026-01-05T15:00:00.000Z",
        }
    ],
    "calendars": [
        {
            "id": "fakeCalendar00000001",
            "locationId": DEMO_LOCATION_ID,
            "name": "Cleanings",
            "description": "30-minute cleanings, weekdays 9 to 5",
            "calendarType": "event",
            "isActive": True,
            "slotDuration": 30,
            "slotDurationUnit": "mins",
            "slotInterval": 30,
            "slotIntervalUnit": "mins",
            "openHours": _WEEKDAYS_9_TO_5,
        }
    ],
    "pipelines": [
        {
            "id": "fakePipeline00000001",
            "locationId": DEMO_LOCATION_ID,
            "name": "Treatments",
            "stages": [
                {"id": "fakeStage00000000001", "name": "Interested", "position": 0},
                {"id": "fakeStage00000000002", "name": "Booked", "position": 1},
            ],
        }
    ],
    "opportunities": [
        {
            "id": "fakeOpportunity00001",
            "locationId": DEMO_LOCATION_ID,
            "contactId": "fakeContact000000001",
            "name": "Ada Lovelace - whitening",
            "pipelineId": "fakePipeline00000001",
            "pipelineStageId": "fakeStage00000000001",
            "status": "open",
            "monetaryValue": 450,
            "source": "demo",
            "createdAt": "2026-01-05T15:00:00.000Z",
            "updatedAt": "2026-01-05T15:00:00.000Z",
            "lastStatusChangeAt": "2026-01-05T15:00:00.000Z",
        }
    ],
}
