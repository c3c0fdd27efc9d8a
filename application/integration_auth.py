"""The GoHighLevel credentials of an integration, opened for one call."""

from __future__ import annotations

from application.ghl import GhlAuth, Priority
from application.ports import Cipher, UnitOfWork
from application.provider_context import provider_context
from domain.integration import Integration


async def ghl_auth(
    uow: UnitOfWork, cipher: Cipher, integration: Integration, *, priority: Priority
) -> GhlAuth:
    """Raises ConfigSchemaInvalidError or InvalidCredentialsError when the integration lacks a
    location or credentials, SecretUnreadableError when its secrets cannot be opened."""
    template = await uow.templates.get(integration.template_id)
    ctx = await provider_context(cipher, integration, template)
    return GhlAuth.from_context(ctx, priority=priority)
