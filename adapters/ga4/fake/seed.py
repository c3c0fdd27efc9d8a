"""The demo data the fake GA4 starts with: the notes' property, web stream and API secret, a
property the demo service account may not read, and that service account's generated key; the
demo OAuth client, and Google users who sign in with it: one who reaches one web stream, one who
reaches three (one of them without a Measurement Protocol secret), one who reaches none."""

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

SHOP_PROPERTY_ID = "323456789"
SHOP_STREAM_ID = "5678901234"
SHOP_MEASUREMENT_ID = "G-SHOP12345"
CHECKOUT_STREAM_ID = "5678901235"
CHECKOUT_MEASUREMENT_ID = "G-CHECKOUT99"
"""A web stream with no Measurement Protocol secret: connecting it creates one."""

SERVICE_ACCOUNT_EMAIL = "integrations-demo@fake-project.iam.gserviceaccount.com"

DEMO_OAUTH_CLIENT_ID = "1234567890-fakedemo.apps.googleusercontent.com"
DEMO_OAUTH_CLIENT_SECRET = "GOCSPX-fake-demo-client-secret"  # noqa: S105 - a fake's demo secret
DEMO_USER_EMAIL = "owner@acme.example"
"""Signs in by default: reaches the demo property's one web stream."""
AGENCY_USER_EMAIL = "agency@acme.example"
"""Reaches three web streams: the demo property's and the shop property's two."""
NO_ANALYTICS_USER_EMAIL = "nobody@acme.example"
"""Reaches no property."""
SERVICE_ACCOUNT_KEY_ID = "0123456789abcdef0123456789abcdef01234567"

DEFAULT_SEED: dict[str, Any] = {
    "properties": [
        {
            "id": DEMO_PROPERTY_ID,
            "displayName": "Acme",
            "account": "accounts/100200300",
            "accountName": "Acme Inc.",
            "users": [SERVICE_ACCOUNT_EMAIL, DEMO_USER_EMAIL, AGENCY_USER_EMAIL],
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
            "id": SHOP_PROPERTY_ID,
            "displayName": "Acme Shop",
            "account": "accounts/200300400",
            "accountName": "Acme Agency",
            "users": [AGENCY_USER_EMAIL],
            "streams": [
                {
                    "id": SHOP_STREAM_ID,
                    "type": "WEB_DATA_STREAM",
                    "displayName": "shop.example.com",
                    "measurementId": SHOP_MEASUREMENT_ID,
                    "defaultUri": "https://shop.example.com",
                    "secrets": [
                        {
                            "id": "3918273645",
                            "displayName": "integrations",
                            "secretValue": "ShopSecret0123456789ab",
                        }
                    ],
                },
                {
                    "id": CHECKOUT_STREAM_ID,
                    "type": "WEB_DATA_STREAM",
                    "displayName": "checkout.example.com",
                    "measurementId": CHECKOUT_MEASUREMENT_ID,
                    "defaultUri": "https://checkout.example.com",
                    "secrets": [],
                },
            ],
        },
        {
            "id": FORBIDDEN_PROPERTY_ID,
            "displayName": "Other",
            "account": "accounts/900900900",
            "accountName": "Someone else",
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
