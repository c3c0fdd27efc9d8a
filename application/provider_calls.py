"""Opening an integration for one call to its provider."""

from __future__ import annotations

from application.ports import Cipher, UnitOfWork
from application.ports.providers import ProviderCall
from application.ports.rate_limits import Priority
from application.provider_context import provider_context
from domain.integration import Integration


async def provider_call(
    uow: UnitOfWork, cipher: Cipher, integration: Integration, *, priority: Priority
) -> ProviderCall:
    """The integration's config, decrypted credentials and rate limit, read in `uow`, for one
    call. Raises SecretUnreadableError when its secrets cannot be opened."""
    template = await uow.templates.get(integration.template_id)
    return ProviderCall.of(await provider_context(cipher, integration, template), priority=priority)
