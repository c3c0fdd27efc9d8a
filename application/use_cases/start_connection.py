"""StartConnection: a person of a sub-account starts signing in at a provider to connect an
account (OAuth 2.0 authorization-code grant)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from application.access import visible_integration
from application.account_linking import session_binding
from application.connect_policy import ConnectPolicy
from application.connect_security import (
    code_challenge,
    new_code_verifier,
    new_state,
    state_digest,
)
from application.ports import Cipher, Clock, ConfigValidator, ConnectionSessions, UnitOfWorkFactory
from application.provider_registry import ProviderRegistry
from domain.connection_session import ConnectionSession
from domain.errors import (
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProviderNotSupportedError,
)
from domain.integration import NAME_MAX_LENGTH
from domain.template import IntegrationTemplate
from domain.values import Principal, SecretStr

_MAX_ACCOUNTS = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class StartConnectionCommand:
    actor: Principal
    sub_account_id: str
    template: str
    """The template's id or name."""
    display_name: str
    return_url: str
    integration_id: str | None = None
    """Re-connect this integration instead of creating one."""
    account_ids: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StartedConnection:
    authorization_url: str
    session: ConnectionSession


class StartConnection:
    """Rules: admins, or people of the sub-account; the return URL is one of the allow-list,
    exactly; the template's provider offers a sign-in; a re-connect names a visible integration
    of that template; the up-front config holds known, non-secret fields only. The session
    keeps the digest of a fresh random state and, where the provider takes PKCE, the sealed
    verifier of the challenge sent."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        sessions: ConnectionSessions,
        providers: ProviderRegistry,
        validator: ConfigValidator,
        cipher: Cipher,
        clock: Clock,
        policy: ConnectPolicy,
    ) -> None:
        self._uow = uow
        self._sessions = sessions
        self._providers = providers
        self._validator = validator
        self._cipher = cipher
        self._clock = clock
        self._policy = policy

    async def execute(self, cmd: StartConnectionCommand) -> StartedConnection:
        _check_request(cmd)
        if not cmd.actor.can_access(cmd.sub_account_id):
            raise PermissionDeniedError("the caller may not connect accounts of this sub-account")
        if not self._policy.allows(cmd.return_url):
            raise InvalidArgumentError(
                "return_url is not one of the allowed return URLs",
                (FieldViolation("return_url", "must be exactly one of CONNECT_RETURN_URLS"),),
            )
        async with self._uow() as uow:
            template = await uow.templates.get(cmd.template) or await uow.templates.get_by_name(
                cmd.template
            )
            if template is None or not template.is_active:
                raise NotFoundError("template", cmd.template)
            display_name = cmd.display_name
            if cmd.integration_id:
                integration = visible_integration(
                    cmd.actor, await uow.integrations.get(cmd.integration_id), cmd.integration_id
                )
                if (
                    integration.sub_account_id != cmd.sub_account_id
                    or integration.template_name != template.name
                ):
                    raise InvalidArgumentError(
                        "the integration is not of this template and sub-account",
                        (FieldViolation("integration", "must match template and sub_account_id"),),
                    )
                display_name = display_name or integration.name
        found = self._providers.connect_flow(template.name)
        if found is None:
            raise ProviderNotSupportedError(
                f"the {template.name} template offers no sign-in here (its app is not configured)"
            )
        provider, flow = found
        if not display_name.strip():
            raise InvalidArgumentError(
                "display_name is required", (FieldViolation("display_name", "is required"),)
            )
        self._check_config(template, cmd.config)

        now = self._clock.now()
        state = new_state()
        session = ConnectionSession(
            id=secrets.token_urlsafe(24),
            sub_account_id=cmd.sub_account_id,
            template_name=template.name,
            provider=provider,
            display_name=display_name,
            return_url=cmd.return_url,
            state_digest=state_digest(state),
            created_by=cmd.actor.subject,
            created_at=now,
            expires_at=now + self._policy.session_ttl,
            integration_id=cmd.integration_id or None,
            account_ids=tuple(dict.fromkeys(cmd.account_ids)),
            config=dict(cmd.config),
        )
        challenge = None
        if flow.pkce:
            verifier = new_code_verifier()
            challenge = code_challenge(verifier)
            session.code_verifier = await self._cipher.encrypt(
                session_binding(session, "pkce_verifier"), SecretStr(verifier)
            )
        url = flow.authorization_url(
            state=state,
            redirect_uri=self._policy.callback_url(provider),
            code_challenge=challenge,
        )
        await self._sessions.add(session)
        return StartedConnection(url, session)

    def _check_config(self, template: IntegrationTemplate, config: dict[str, Any]) -> None:
        """Known, non-secret fields, each valid: the rest of the config comes from the sign-in."""
        schema = template.config_schema
        violations = [
            FieldViolation(f"config.{k}", "is a secret: it comes from the sign-in")
            for k in config
            if k in schema.secret_fields
        ] + [
            FieldViolation(f"config.{k}", "is not a field of the template")
            for k in config
            if k not in schema.properties
        ]
        if not violations and config:
            violations = [
                v
                for v in self._validator.validate(template, config)
                if any(
                    v.field == f"config.{k}" or v.field.startswith(f"config.{k}.") for k in config
                )
            ]
        if violations:
            raise InvalidArgumentError("config does not match the template", tuple(violations))


def _check_request(cmd: StartConnectionCommand) -> None:
    violations: list[FieldViolation] = []
    if not cmd.sub_account_id:
        violations.append(FieldViolation("sub_account_id", "is required"))
    if not cmd.template:
        violations.append(FieldViolation("template", "is required"))
    if not cmd.return_url:
        violations.append(FieldViolation("return_url", "is required"))
    if len(cmd.display_name) > NAME_MAX_LENGTH:
        violations.append(
            FieldViolation("display_name", f"must be at most {NAME_MAX_LENGTH} characters")
        )
    if len(cmd.account_ids) > _MAX_ACCOUNTS or not all(0 < len(a) <= 256 for a in cmd.account_ids):
        violations.append(
            FieldViolation("account_ids", f"at most {_MAX_ACCOUNTS} ids of 1-256 characters")
        )
    if violations:
        raise InvalidArgumentError("the request is not valid", tuple(violations))
