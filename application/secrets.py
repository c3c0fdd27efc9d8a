"""Splitting a config into plain fields and secrets, sealing and opening the secrets."""

from __future__ import annotations

from typing import Any

from application.ports import Cipher, Credentials, SecretBinding
from domain.integration import Integration
from domain.template import IntegrationTemplate
from domain.values import MASK, EncryptedSecret, SecretStr


def split_config(
    template: IntegrationTemplate, config: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, SecretStr]]:
    """Plain fields and secret fields of a validated config. Empty secrets are dropped."""
    secret_fields = template.config_schema.secret_fields
    plain = {k: v for k, v in config.items() if k not in secret_fields}
    secrets = {k: SecretStr(str(v)) for k, v in config.items() if k in secret_fields and v != ""}
    return plain, secrets


def is_masked(value: object) -> bool:
    """A masked value sent back by a client means 'keep the stored secret'."""
    return isinstance(value, str) and value.startswith(MASK)


async def seal(
    cipher: Cipher, integration_id: str, sub_account_id: str, secrets: dict[str, SecretStr]
) -> dict[str, EncryptedSecret]:
    return {
        name: await cipher.encrypt(SecretBinding(sub_account_id, integration_id, name), value)
        for name, value in secrets.items()
    }


async def open_credentials(cipher: Cipher, integration: Integration) -> Credentials:
    return Credentials(
        {
            name: await cipher.decrypt(
                SecretBinding(integration.sub_account_id, integration.id, name), secret
            )
            for name, secret in integration.secrets.items()
        }
    )


def connects_through_the_app(integration: Integration) -> bool:
    """Whether the integration reaches its provider through a marketplace app's OAuth tokens,
    which the app's install and uninstall grant and revoke; a private token (``apiKey``)
    outlives them."""
    return "apiKey" not in integration.secrets
