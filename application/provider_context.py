"""Building what a provider needs to act for an integration, and reporting what it found."""

from __future__ import annotations

from application.ports import Cipher, ProviderContext
from application.secrets import open_credentials
from domain.integration import Integration
from domain.template import DEFAULT_RATE_LIMIT_PER_MINUTE, IntegrationTemplate


async def provider_context(
    cipher: Cipher, integration: Integration, template: IntegrationTemplate | None
) -> ProviderContext:
    """The integration's config and decrypted credentials, for one call."""
    return ProviderContext(
        integration_id=integration.id,
        sub_account_id=integration.sub_account_id,
        template_name=integration.template_name,
        config=dict(integration.config),
        credentials=await open_credentials(cipher, integration),
        rate_limit_per_minute=(
            template.rate_limit_per_minute if template else DEFAULT_RATE_LIMIT_PER_MINUTE
        ),
    )
