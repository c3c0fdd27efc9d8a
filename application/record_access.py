"""Who may change leads and bookings here, and on which integrations."""

from __future__ import annotations

from application.access import visible_integration
from application.ports import UnitOfWork
from domain.errors import IntegrationNotActiveError, PermissionDeniedError
from domain.integration import Integration
from domain.values import Principal, Role

WRITERS = frozenset({Role.ADMIN, Role.SERVICE})


def require_writer(actor: Principal, action: str) -> None:
    """Leads and bookings are changed by admins and the platform's services, not by users."""
    if actor.role not in WRITERS:
        raise PermissionDeniedError(f"{action} requires the admin or service role")


def check_operational(integration: Integration) -> None:
    """Raise INTEGRATION_NOT_ACTIVE unless the integration is switched on and connected."""
    if not integration.is_operational:
        raise IntegrationNotActiveError(
            f"integration {integration.id!r} is {integration.status}"
            + ("" if integration.is_active else " and switched off")
        )


async def writable_integration(
    uow: UnitOfWork, actor: Principal, integration_id: str, action: str
) -> Integration:
    """The integration whose leads or bookings `actor` changes: visible to them (else NOT_FOUND)
    and operational."""
    require_writer(actor, action)
    integration = visible_integration(
        actor, await uow.integrations.get(integration_id), integration_id
    )
    check_operational(integration)
    return integration
