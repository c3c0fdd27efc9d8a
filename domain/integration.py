"""Integration: a sub-account's instance of a template, with its status machine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.aggregate import Aggregate
from domain.errors import ErrorCode, FieldViolation, InvalidArgumentError, InvalidTransitionError
from domain.events import (
    IntegrationActivated,
    IntegrationConfigChanged,
    IntegrationCreated,
    IntegrationDeleted,
    IntegrationDisconnected,
    IntegrationFailed,
    IntegrationReset,
    IntegrationSynced,
)
from domain.values import EncryptedSecret


class IntegrationStatus(StrEnum):
    """What the service last observed of the connection (the admin's switch is `is_active`)."""

    PENDING = "pending"
    ACTIVE = "active"
    ERROR = "error"
    DISCONNECTED = "disconnected"


# DESIGN.md §3. ERROR → ERROR is the same failure observed again: it refreshes the error.
TRANSITIONS: Mapping[IntegrationStatus, frozenset[IntegrationStatus]] = {
    IntegrationStatus.PENDING: frozenset(
        {IntegrationStatus.ACTIVE, IntegrationStatus.ERROR, IntegrationStatus.DISCONNECTED}
    ),
    IntegrationStatus.ACTIVE: frozenset({IntegrationStatus.ERROR, IntegrationStatus.DISCONNECTED}),
    IntegrationStatus.ERROR: frozenset(
        {IntegrationStatus.ACTIVE, IntegrationStatus.ERROR, IntegrationStatus.DISCONNECTED}
    ),
    IntegrationStatus.DISCONNECTED: frozenset({IntegrationStatus.PENDING}),
}

NAME_MAX_LENGTH = 200
_ID_MAX = 128


class Integration(Aggregate):
    """A sub-account's connection to one provider. Plain config and encrypted secrets are kept
    apart: `config` never holds a secret field, `secrets` holds only ciphertexts."""

    def __init__(
        self,
        *,
        id: str,
        sub_account_id: str,
        template_id: str,
        template_name: str,
        name: str,
        description: str,
        is_active: bool,
        status: IntegrationStatus,
        config: dict[str, Any],
        secrets: dict[str, EncryptedSecret],
        last_sync_at: datetime | None,
        last_tested_at: datetime | None,
        error_code: str | None,
        error_message: str | None,
        created_by_admin_id: str | None,
        created_at: datetime,
        updated_at: datetime,
        version: int,
    ) -> None:
        super().__init__()
        self.id = id
        self.sub_account_id = sub_account_id
        self.template_id = template_id
        self.template_name = template_name
        self.name = name
        self.description = description
        self.is_active = is_active
        self.status = status
        self.config = config
        self.secrets = secrets
        self.last_sync_at = last_sync_at
        self.last_tested_at = last_tested_at
        self.error_code = error_code
        self.error_message = error_message
        self.created_by_admin_id = created_by_admin_id
        self.created_at = created_at
        self.updated_at = updated_at
        self.version = version

    # --- creation -----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        id: str,
        sub_account_id: str,
        template_id: str,
        template_name: str,
        name: str,
        now: datetime,
        description: str = "",
        config: dict[str, Any] | None = None,
        secrets: dict[str, EncryptedSecret] | None = None,
        created_by_admin_id: str | None = None,
    ) -> Integration:
        _check_name(name)
        if not sub_account_id or len(sub_account_id) > _ID_MAX:
            raise InvalidArgumentError(
                "sub_account_id is not valid",
                (FieldViolation("sub_account_id", f"is required, at most {_ID_MAX} characters"),),
            )
        integration = cls(
            id=id,
            sub_account_id=sub_account_id,
            template_id=template_id,
            template_name=template_name,
            name=name,
            description=description,
            is_active=True,
            status=IntegrationStatus.PENDING,
            config=dict(config or {}),
            secrets=dict(secrets or {}),
            last_sync_at=None,
            last_tested_at=None,
            error_code=None,
            error_message=None,
            created_by_admin_id=created_by_admin_id,
            created_at=now,
            updated_at=now,
            version=1,
        )
        integration._record(
            IntegrationCreated(
                **integration._event_base(now, next_version=1),
                template_name=template_name,
                name=name,
            )
        )
        return integration

    # --- status machine -----------------------------------------------------------------------

    def can_transition_to(self, target: IntegrationStatus) -> bool:
        return target in TRANSITIONS[self.status]

    def activate(self, *, now: datetime) -> None:
        """The connection works (a test or a sync succeeded)."""
        if self.status is IntegrationStatus.ACTIVE:
            self.last_tested_at = now
            return
        previous = self._move_to(IntegrationStatus.ACTIVE, now)
        self.error_code = None
        self.error_message = None
        self.last_tested_at = now
        self._record(IntegrationActivated(**self._event_base(now), previous_status=previous))

    def fail(self, *, code: ErrorCode | str, message: str, now: datetime) -> None:
        """The connection fails for a reason that needs a person."""
        previous = self._move_to(IntegrationStatus.ERROR, now)
        self.error_code = str(code)
        self.error_message = message
        self.last_tested_at = now
        self._record(
            IntegrationFailed(
                **self._event_base(now),
                previous_status=previous,
                error_code=str(code),
                error_message=message,
            )
        )

    def mark_synced(
        self, *, pulled: int, pushed: int, conflicts: int, failures: int, now: datetime
    ) -> None:
        """A sync run succeeded: the connection works (error → active) and `last_sync_at`
        moves. Only an operational integration is synced."""
        if not self.is_operational:
            raise InvalidTransitionError(
                f"a {self.status} integration is not synced",
                metadata={"from": str(self.status)},
            )
        self.activate(now=now)
        self.last_sync_at = now
        self.updated_at = now
        self._record(
            IntegrationSynced(
                **self._event_base(now),
                pulled=pulled,
                pushed=pushed,
                conflicts=conflicts,
                failures=failures,
            )
        )

    def disconnect(self, *, reason: str, now: datetime) -> None:
        """The app was uninstalled, or credentials were revoked."""
        previous = self._move_to(IntegrationStatus.DISCONNECTED, now)
        self._record(
            IntegrationDisconnected(
                **self._event_base(now), previous_status=previous, reason=reason
            )
        )

    def deactivate(self, *, now: datetime) -> None:
        """The admin switches it off. Idempotent."""
        if not self.is_active and self.status is IntegrationStatus.DISCONNECTED:
            return
        self.is_active = False
        if self.status is not IntegrationStatus.DISCONNECTED:
            self.disconnect(reason="deactivated", now=now)
        else:
            self.updated_at = now

    def reactivate(self, *, now: datetime) -> None:
        """The admin switches it back on: a disconnected one returns to pending, to be tested.
        Idempotent."""
        if self.is_active and self.status is not IntegrationStatus.DISCONNECTED:
            return
        self.is_active = True
        if self.status is IntegrationStatus.DISCONNECTED:
            self._reset(reason="reactivated", now=now)
        else:
            self.updated_at = now

    @property
    def needs_test(self) -> bool:
        return self.is_active and self.status is IntegrationStatus.PENDING

    @property
    def is_operational(self) -> bool:
        """May the service call the provider for it (RPCs, webhooks, sync)?"""
        return self.is_active and self.status in (IntegrationStatus.ACTIVE, IntegrationStatus.ERROR)

    # --- edits --------------------------------------------------------------------------------

    def edit(
        self, *, name: str | None = None, description: str | None = None, now: datetime
    ) -> None:
        changed: list[str] = []
        if name is not None and name != self.name:
            _check_name(name)
            self.name = name
            changed.append("name")
        if description is not None and description != self.description:
            self.description = description
            changed.append("description")
        if changed:
            self.updated_at = now
            self._record(
                IntegrationConfigChanged(**self._event_base(now), changed_fields=tuple(changed))
            )

    def change_config(
        self,
        *,
        config: dict[str, Any],
        secrets: dict[str, EncryptedSecret],
        credentials_changed: bool,
        now: datetime,
    ) -> None:
        """Replace the config. The caller re-tests changed credentials; a disconnected integration
        given new credentials returns to pending (unless the admin has switched it off)."""
        changed = sorted(
            {k for k in config.keys() | self.config.keys() if config.get(k) != self.config.get(k)}
            | {
                k
                for k in secrets.keys() | self.secrets.keys()
                if secrets.get(k) != self.secrets.get(k)
            }
        )
        if not changed:
            return
        self.config = dict(config)
        self.secrets = dict(secrets)
        self.updated_at = now
        self._record(
            IntegrationConfigChanged(
                **self._event_base(now), changed_fields=tuple(f"config.{f}" for f in changed)
            )
        )
        if credentials_changed and self.is_active and self.status is IntegrationStatus.DISCONNECTED:
            self._reset(reason="credentials_changed", now=now)

    def replace_secret(self, field: str, secret: EncryptedSecret, *, now: datetime) -> None:
        """Store a secret re-encrypted (key rotation) or rotated by the provider (OAuth refresh).
        The plaintext is unchanged or provider-driven, so no status change and no config event."""
        if field not in self.secrets:
            raise InvalidArgumentError(f"no secret field {field!r}")
        self.secrets[field] = secret
        self.updated_at = now

    def mark_deleted(self, *, now: datetime) -> None:
        self._record(IntegrationDeleted(**self._event_base(now)))

    # --- internals ----------------------------------------------------------------------------

    def _reset(self, *, reason: str, now: datetime) -> None:
        previous = self._move_to(IntegrationStatus.PENDING, now)
        self.error_code = None
        self.error_message = None
        self._record(
            IntegrationReset(**self._event_base(now), previous_status=previous, reason=reason)
        )

    def _move_to(self, target: IntegrationStatus, now: datetime) -> str:
        if not self.can_transition_to(target):
            raise InvalidTransitionError(
                f"integration cannot go from {self.status} to {target}",
                metadata={"from": str(self.status), "to": str(target)},
            )
        previous = str(self.status)
        self.status = target
        self.updated_at = now
        return previous

    def _event_base(self, now: datetime, *, next_version: int | None = None) -> dict[str, Any]:
        return {
            "aggregate_id": self.id,
            "aggregate_version": next_version if next_version is not None else self.version + 1,
            "occurred_at": now,
            "sub_account_id": self.sub_account_id,
        }


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > NAME_MAX_LENGTH:
        raise InvalidArgumentError(
            "integration name is not valid",
            (FieldViolation("name", f"must be 1-{NAME_MAX_LENGTH} characters, not blank"),),
        )
