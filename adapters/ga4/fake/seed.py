"""The demo data the fake GA4 starts with: the notes' property, web stream and API secret, a
property the demo service account may not read, and that service account's generated key."""

from __future__ import annotations

import functools
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEMO_PROPERTY_ID = "312345678"
DEMO_STREAM_ID = "4567890123"
DEMO_MEASUREMENT_ID = "G-ABC123DEF4"
DEMO_API_SECRET = "Xy9aBcDeFgHiJkLmNoPqRs"  # noqa: S105 - a fake's published demo secret
FORBIDDEN_PROPERTY_ID = "398765432"
"""A property the demo service account is not a user of: the Admin API answers 403."""
FORBIDDEN_MEASUREMENT_ID = "G-FORBIDDEN1"

SERVICE_ACCOUNT_EMAIL = "integrations-demo@fake-project.iam.gserviceaccount.com"
SERVICE_ACCOUNT_KEY_ID = "0123456789abcdef0123456789abcdef01234567"

DEFAULT_SEED: dict[str, Any] = {
    "properties": [
        {
            "id": DEMO_PROPERTY_ID,
            "users": [SERVICE_ACCOUNT_EMAIL],
            "streams": [
                {
                    "id": DEMO_STREAM_ID,
                    "type": "WEB_DATA_STREAM",
                    "displayName": "acme.example.com",
                    "measurementId": DEMO_MEASUREMENT_ID,
                    "defaultUri": "https://acme.example.com",
                    "secrets": [
                        {
                            "id": "2918273645",
                            "displayName": "crm-server",
                            "secretValue": DEMO_API_SECRET,
                        }
                    ],
                },
                {
                    "id": "4567890124",
                    "type": "ANDROID_APP_DATA_STREAM",
                    "displayName": "Acme Android",
                    "firebaseAppId": "1:123456789012:android:abcdef0123456789",
                    "packageName": "com.example.acme",
                    "secrets": [],
                },
            ],
        },
        {
            "id": FORBIDDEN_PROPERTY_ID,
            "users": [],
            "streams": [
                {
                    "id": "4567890999",
                    "type": "WEB_DATA_STREAM",
                    "displayName": "other.example.com",
                    "measurementId": FORBIDDEN_MEASUREMENT_ID,
                    "defaultUri": "https://other.example.com",
                    "secrets": [],
                }
            ],
        },
    ]
}


@functools.cache
def demo_private_key() -> rsa.RSAPrivateKey:
    """The demo service account's key, generated once per process."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_key(
    token_uri: str,
    *,
    private_key: rsa.RSAPrivateKey | None = None,
    email: str = SERVICE_ACCOUNT_EMAIL,
    key_id: str = SERVICE_ACCOUNT_KEY_ID,
) -> str:
    """A service-account JSON key in Google's format, whose `token_uri` is the fake's."""
    key = private_key or demo_private_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "universe_domain": "googleapis.com",
        }
    )
