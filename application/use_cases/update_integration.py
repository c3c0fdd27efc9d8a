"""UpdateIntegration: an admin edits an integration (field-masked); new credentials are re-tested."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from application.access import require_admin, visible_integration
from application.connection import ConnectionTester
from application.dto import IntegrationView
from application.ports import (
    Cipher,
    Clock,
    ConfigValidator,
    ConnectionTestResult,
    UnitOfWorkFactory,
)
from application.secrets import is_masked, open_credentials, seal, split_config
from domain.errors import (
    ConcurrencyError,
    ConfigSchemaInvalidError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
)
from domain.integration import IntegrationStatus
from domain.values import Principal

_TOP_LEVEL = frozenset({"name", "description", "config"})


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateIntegrationCommand:
    actor: Principal
    integration_id: str
    update_mask: tuple[str, ...]
    """Paths to change: ``name``, ``description``, ``config`` (replace) or ``config.<field>``."""
    name: str = ""
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class UpdateIntegrationResult:
    integration: IntegrationView
    test: ConnectionTestResult | None
    """The re-test, when the config changed."""


class UpdateIntegration:
    """Rules: admins only; only masked paths change; a secret sent back masked (``••••1a2b``) or
    left out keeps its stored value, an empty one is removed; the merged config must satisfy
    the template's schema; changed secrets are sealed afresh; any config change drops the
    provider accounts the integration owned and re-tests the connection; `expected_version` (the etag) guards against lost updates."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        validator: ConfigValidator,
        cipher: Cipher,
        tester: ConnectionTester,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._validator = validator
        self._cipher = cipher
        self._tester = tester
        self._clock = clock

    async def execute(self, cmd: UpdateIntegrationCommand) -> UpdateIntegrationResult:
        require_admin(cmd.actor, "updating an integration")
        _check_mask(cmd.update_mask)
        config_changed = False
        async with self._uow() as uow:
            integration = visible_integration(
                cmd.actor, await uow.integrations.get(cmd.integration_id), cmd.integration_id
            )
            if cmd.expected_version is not None and cmd.expected_version != integration.version:
                raise ConcurrencyError("the integration changed since it was read")
            now = self._clock.now()
            integration.edit(
                name=cmd.name if "name" in cmd.update_mask else None,
                description=cmd.description if "description" in cmd.update_mask else None,
                now=now,
            )
            config_paths = [p for p in cmd.update_mask if p == "config" or p.startswith("config.")]
            if config_paths:
                template = await uow.templates.get(integration.template_id)
                if template is None:
                    raise NotFoundError("template", integration.template_id)
                current = {
                    **integration.config,
                    **{
                        k: v.reveal()
                        for k, v in (
                            await open_credentials(self._cipher, integration)
                        ).values.items()
                    },
                }
                merged = _merge(
                    current, cmd.config, config_paths, template.config_schema.secret_fields
                )
                violations = self._validator.validate(template, merged)
                if violations:
                    raise ConfigSchemaInvalidError(
                        "config does not match the template", tuple(violations)
                    )
                plain, secrets = split_config(template, merged)
                changed_secrets = {k: v for k, v in secrets.items() if current.get(k) != v.reveal()}
                sealed = {k: s for k, s in integration.secrets.items() if k in secrets}
                sealed.update(
                    await seal(
                        self._cipher, integration.id, integration.sub_account_id, changed_secrets
                    )
                )
                config_changed = plain != integration.config or sealed != integration.secrets
                integration.change_config(
                    config=plain, secrets=sealed, credentials_changed=config_changed, now=now
                )
                if config_changed:
                    # What the old config proved says nothing of the new one: the next
                    # successful test proves its accounts again.
                    await uow.integrations.set_accounts(integration.id, frozenset())
            await uow.integrations.update(integration)
            await uow.commit()
        test = None
        if (
            config_changed
            and integration.is_active
            and integration.status is not IntegrationStatus.DISCONNECTED
        ):
            integration, test = await self._tester.test_and_record(integration.id)
        return UpdateIntegrationResult(IntegrationView.of(integration), test)


def _check_mask(mask: tuple[str, ...]) -> None:
    if not mask:
        raise InvalidArgumentError(
            "update_mask is required", (FieldViolation("update_mask", "name at least one path"),)
        )
    bad = [p for p in mask if p not in _TOP_LEVEL and not (p.startswith("config.") and len(p) > 7)]
    if bad:
        raise InvalidArgumentError(
            "update_mask names fields that cannot be updated",
            tuple(FieldViolation("update_mask", f"{p!r} is not updatable") for p in bad),
        )


def _merge(
    current: dict[str, Any], given: dict[str, Any], paths: list[str], secret_fields: frozenset[str]
) -> dict[str, Any]:
    """Apply the config paths of the mask to the current (decrypted) config."""
    if "config" in paths:
        merged = {k: v for k, v in given.items()}
        for name in secret_fields:
            if (name not in given or is_masked(given[name])) and name in current:
                merged[name] = current[name]
    else:
        merged = dict(current)
        for path in paths:
            name = path.removeprefix("config.")
            if name in given:
                if not (name in secret_fields and is_masked(given[name])):
                    merged[name] = given[name]
            else:
                merged.pop(name, None)
    return {k: v for k, v in merged.items() if not (k in secret_fields and v == "")}
