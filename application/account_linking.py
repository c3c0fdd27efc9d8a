"""Turning the accounts a sign-in connected into integrations, and ending the session."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from application.connect_policy import ConnectPolicy
from application.connection import ConnectionTester
from application.ports import (
    AccountConnection,
    Cipher,
    Clock,
    ConfigValidator,
    ConnectFlow,
    ConnectFlowError,
    ConnectionSessions,
    IdGenerator,
    IntegrationFilter,
    PageRequest,
    SecretBinding,
    TokenStore,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.secrets import seal
from domain.connection_session import ConnectFailure, ConnectionSession, SessionStatus
from domain.errors import InvalidCredentialsError, ProviderError
from domain.integration import NAME_MAX_LENGTH, Integration
from domain.template import IntegrationTemplate
from domain.values import MASK, EncryptedSecret, SecretStr

log = logging.getLogger(__name__)

_PAGE = 100


def session_binding(session: ConnectionSession, field: str) -> SecretBinding:
    """A session's secrets are sealed with its sub-account's key, bound to the session."""
    return SecretBinding(session.sub_account_id, f"connection-session:{session.id}", field)


def fail_session(
    session: ConnectionSession,
    err: BaseException,
    *,
    now: datetime,
    integration_ids: tuple[str, ...] = (),
) -> None:
    """End the session with what a failed step means, and a safe detail; a failure of the
    service's own is logged by its type only (its message may quote a provider's answer)."""
    failure, detail = ConnectFailure.INTERNAL, ""
    if isinstance(err, ConnectFlowError):
        failure, detail = err.failure, err.detail
    elif isinstance(err, InvalidCredentialsError):
        failure = ConnectFailure.CODE_REJECTED
    elif isinstance(err, ProviderError | TimeoutError):
        failure = ConnectFailure.PROVIDER_UNAVAILABLE
    else:
        log.error("connect_step_failed: %s", type(err).__name__)
    session.fail(failure, detail=detail, integration_ids=integration_ids, now=now)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountLinker:
    """Rules: an account connects to the session's integration when it re-connects one (the
    account must be the integration's own), else to the sub-account's integration of the
    template already on that account (no duplicate), else to a new one; the config is the
    session's, then the account's, and must satisfy the template; tokens a provider issued
    are stored before the connection test, which every linked integration goes through."""

    uow: UnitOfWorkFactory
    sessions: ConnectionSessions
    validator: ConfigValidator
    cipher: Cipher
    tester: ConnectionTester
    tokens: TokenStore
    ids: IdGenerator
    clock: Clock
    policy: ConnectPolicy

    async def connect(
        self,
        session: ConnectionSession,
        flow: ConnectFlow,
        grant: Mapping[str, SecretStr],
        account_ids: tuple[str, ...],
    ) -> ConnectionSession:
        """Connect the accounts (the session is exchanging) and end the session, saved."""
        linked: list[str] = []
        tests_passed = True
        try:
            for account_id in account_ids:
                async with asyncio.timeout(self.policy.provider_seconds):
                    connection = await flow.connect(
                        grant, account_id, session.config, sub_account_id=session.sub_account_id
                    )
                integration, passed = await self._link(
                    session, connection, several=len(account_ids) > 1
                )
                linked.append(integration.id)
                tests_passed = tests_passed and passed
        except Exception as err:  # every failure ends the session, named
            fail_session(session, err, integration_ids=tuple(linked), now=self._now())
        else:
            if tests_passed:
                session.connect(tuple(linked), now=self._now())
            else:
                session.fail(
                    ConnectFailure.CONNECTION_TEST_FAILED,
                    integration_ids=tuple(linked),
                    now=self._now(),
                )
        await self.sessions.save(session, expected=SessionStatus.EXCHANGING)
        return session

    async def _link(
        self, session: ConnectionSession, connection: AccountConnection, *, several: bool
    ) -> tuple[Integration, bool]:
        async with self.uow() as uow:
            template = await uow.templates.get_by_name(session.template_name)
            if template is None or not template.is_active:
                raise ConnectFlowError(ConnectFailure.INTERNAL, "the template is gone")
            integration = await self._target(uow, session, connection)
            if integration is None:
                integration = await self._create(session, template, connection, several=several)
                await uow.integrations.add(integration)
            else:
                await self._reconnect(integration, template, session, connection)
                await uow.integrations.update(integration)
            await uow.commit()
        if connection.tokens is not None:
            await self.tokens.save_rotated_tokens(
                integration.id,
                refresh_token=connection.tokens.refresh_token,
                access_token=connection.tokens.access_token,
                expires_at=connection.tokens.expires_at,
            )
        result = await self.tester.test(integration, template)
        integration = await self.tester.record(integration.id, result)
        return integration, result.success

    async def _target(
        self, uow: UnitOfWork, session: ConnectionSession, connection: AccountConnection
    ) -> Integration | None:
        if session.integration_id is not None:
            integration = await uow.integrations.get(session.integration_id)
            if integration is None or integration.sub_account_id != session.sub_account_id:
                raise ConnectFlowError(ConnectFailure.INTERNAL, "the integration is gone")
            if not _same_account(integration, connection):
                raise ConnectFlowError(
                    ConnectFailure.ACCOUNT_MISMATCH,
                    "the sign-in is for another account than the integration's",
                )
            return integration
        after: str | None = None
        while True:
            page = await uow.integrations.list_page(
                IntegrationFilter(
                    sub_account_id=session.sub_account_id, template_name=session.template_name
                ),
                PageRequest(_PAGE, after),
            )
            for integration in page.items:
                if connection.config and all(
                    integration.config.get(k) == v for k, v in connection.config.items()
                ):
                    return integration
            if page.next_after_id is None:
                return None
            after = page.next_after_id

    async def _create(
        self,
        session: ConnectionSession,
        template: IntegrationTemplate,
        connection: AccountConnection,
        *,
        several: bool,
    ) -> Integration:
        plain = {**session.config, **connection.config}
        self._check(template, plain, dict(connection.secrets))
        integration_id = self.ids.new_id()
        name = session.display_name
        if several:
            name = f"{name} ({connection.account.name or connection.account.id})"
        return Integration.create(
            id=integration_id,
            sub_account_id=session.sub_account_id,
            template_id=template.id,
            template_name=template.name,
            name=name[:NAME_MAX_LENGTH],
            config=plain,
            secrets=await seal(
                self.cipher, integration_id, session.sub_account_id, dict(connection.secrets)
            ),
            created_by_admin_id=session.created_by,
            now=self._now(),
        )

    async def _reconnect(
        self,
        integration: Integration,
        template: IntegrationTemplate,
        session: ConnectionSession,
        connection: AccountConnection,
    ) -> None:
        plain = {**integration.config, **session.config, **connection.config}
        kept: dict[str, EncryptedSecret] = {
            k: v for k, v in integration.secrets.items() if k not in connection.secrets
        }
        self._check(
            template,
            plain,
            {**{k: SecretStr(MASK) for k in kept}, **connection.secrets},
        )
        fresh = await seal(
            self.cipher, integration.id, integration.sub_account_id, dict(connection.secrets)
        )
        integration.change_config(
            config=plain, secrets={**kept, **fresh}, credentials_changed=True, now=self._now()
        )

    def _check(
        self, template: IntegrationTemplate, plain: dict[str, Any], secrets: dict[str, SecretStr]
    ) -> None:
        config = {**plain, **{k: v.reveal() for k, v in secrets.items()}}
        violations = self.validator.validate(template, config)
        if violations:
            raise ConnectFlowError(
                ConnectFailure.CONFIG_INVALID,
                "the connected account's config does not satisfy the template",
                detail=", ".join(sorted({v.field for v in violations})),
            )

    def _now(self) -> datetime:
        return self.clock.now()


def _same_account(integration: Integration, connection: AccountConnection) -> bool:
    """Whether the account is the integration's: every account field the integration has
    holds the same value."""
    return all(integration.config.get(k) in (None, v) for k, v in connection.config.items())
