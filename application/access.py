"""Who may do what: the authorization rules of DESIGN.md §5, in one place."""

from __future__ import annotations

from typing import Protocol, TypeVar

from domain.errors import NotFoundError, PermissionDeniedError
from domain.values import Principal


class _Owned(Protocol):
    @property
    def sub_account_id(self) -> str: ...


OwnedT = TypeVar("OwnedT", bound=_Owned)


def require_admin(actor: Principal, action: str) -> None:
    if not actor.is_admin:
        raise PermissionDeniedError(f"{action} requires the admin role")


def visible_integration(
    actor: Principal, integration: OwnedT | None, integration_id: str
) -> OwnedT:
    """The integration (aggregate or view) if the actor may see it. Another tenant's integration
    is reported as not found, exactly like a missing one, so ids leak nothing."""
    if integration is None or not actor.can_access(integration.sub_account_id):
        raise NotFoundError("integration", integration_id)
    return integration
