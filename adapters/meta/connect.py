"""MetaConnectFlow: a Facebook Page connected by signing in with Facebook Login (the manual
flow): the code for a user token, that for a long-lived one, the permissions checked, the
person's Pages offered, and the chosen Page's token kept and the Page subscribed to leadgen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from yarl import URL

from adapters.meta.auth import ACCESS_TOKEN_FIELD, PageAuth
from adapters.meta.graph import ManagedPage, MetaGraph
from adapters.meta.provider import REQUIRED_SCOPES, subscribe_to_leads
from adapters.meta.template import TEMPLATE_NAME
from application.ports.connect import AccountConnection, ConnectFlowError, ConnectGrant
from domain.connection_session import AccountChoice, ConnectFailure
from domain.errors import (
    ConnectionFailedError,
    DomainError,
    InvalidCredentialsError,
    RateLimitExceededError,
)
from domain.values import SecretStr

USER_TOKEN_FIELD = "userAccessToken"  # noqa: S105 - the grant's field name, not a secret
"""The grant's secret: the long-lived user token, from which each chosen Page's token comes."""
LEADS_TASK = "ADVERTISE"
"""API-NOTES §2: only a person who can advertise on a Page reads its leads."""
DEFAULT_TIMEOUT_SECONDS = 20.0
"""How long each step may take (the code's exchange; the checks after it; a Page's connect),
retries included: a person waits on it."""


class MetaConnectFlow:
    """ConnectFlow of the ``facebook_ads`` template. `authorize_url`: the Login dialog (empty:
    Facebook's, at the Graph version of the app's settings). `pkce`: send an S256 challenge,
    which Facebook documents for manually built flows (its OIDC code flow, "still in testing");
    the app secret goes with every exchange either way."""

    def __init__(
        self,
        graph: MetaGraph,
        *,
        authorize_url: str = "",
        pkce: bool = True,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        settings = graph.settings
        self._graph = graph
        self._authorize_url = URL(
            authorize_url or f"https://www.facebook.com/{settings.graph_version}/dialog/oauth"
        )
        self._pkce = pkce
        self._timeout = timeout_seconds

    @property
    def template(self) -> str:
        return TEMPLATE_NAME

    @property
    def pkce(self) -> bool:
        return self._pkce

    def authorization_url(
        self, *, state: str, redirect_uri: str, code_challenge: str | None
    ) -> str:
        """The dialog asks for REQUIRED_SCOPES, and asks again for any the person declined
        before (``auth_type=rerequest``); Facebook would otherwise skip them silently."""
        params = {
            "client_id": self._graph.settings.app_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "scope": ",".join(REQUIRED_SCOPES),
            "auth_type": "rerequest",
        }
        if self._pkce and code_challenge is not None:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        return str(self._authorize_url.update_query(params))

    async def exchange(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        callback: Mapping[str, str],
    ) -> ConnectGrant:
        """The code for a long-lived user token; refused (missing_scopes) unless every
        REQUIRED_SCOPES is granted, and (no_accounts) unless the person manages a Page they
        may advertise on."""
        verifier = SecretStr(code_verifier) if code_verifier is not None else None
        async with self._meta("exchanging the sign-in's code", code_step=True):
            short = await self._graph.exchange_code(
                code=SecretStr(code), redirect_uri=redirect_uri, code_verifier=verifier
            )
        async with self._meta("checking the sign-in"):
            user = (await self._graph.long_lived_token(short.token)).token
            missing = missing_permissions(await self._graph.permissions(user))
            if missing:
                raise ConnectFlowError(
                    ConnectFailure.MISSING_SCOPES,
                    f"Facebook Login did not grant {', '.join(missing)}: sign in again and "
                    "allow every permission asked for",
                    detail=",".join(missing),
                )
            pages = leads_pages(await self._graph.managed_pages(user))
        if not pages:
            raise ConnectFlowError(
                ConnectFailure.NO_ACCOUNTS,
                "The Facebook account manages no Page it may advertise on, or granted the app "
                "none: sign in again and choose the Page whose lead forms you run",
            )
        return ConnectGrant(
            accounts=tuple(AccountChoice(page.id, page.name) for page in pages),
            secrets={USER_TOKEN_FIELD: user},
        )

    async def connect(
        self,
        grant: Mapping[str, SecretStr],
        account_id: str,
        config: Mapping[str, Any],
        *,
        sub_account_id: str,
    ) -> AccountConnection:
        """The Page's token, fetched again with the grant's user token (a Page token from a
        long-lived user token does not expire), and the Page subscribed to leadgen."""
        user = grant.get(USER_TOKEN_FIELD)
        if user is None or not user.reveal():
            raise ConnectFlowError(
                ConnectFailure.ACCESS_DENIED, "The sign-in holds no Facebook user token"
            )
        async with self._meta(f"connecting Page {account_id}"):
            page = next(
                (
                    p
                    for p in leads_pages(await self._graph.managed_pages(user))
                    if p.id == account_id
                ),
                None,
            )
            if page is None:
                raise ConnectFlowError(
                    ConnectFailure.ACCOUNT_MISMATCH,
                    f"The Facebook account does not manage Page {account_id}, or did not grant "
                    "the app access to it: sign in as one of its admins",
                    detail=account_id,
                )
            auth = PageAuth(integration_id=None, page_id=page.id, token=page.token)
            subscribed = await subscribe_to_leads(self._graph, auth)
        if subscribed is None:
            raise ConnectionFailedError(
                f"Meta did not subscribe the platform's app to Page {page.id}'s leads"
            )
        return AccountConnection(
            account=AccountChoice(page.id, page.name),
            config={"pageId": page.id},
            secrets={ACCESS_TOKEN_FIELD: page.token},
        )

    @asynccontextmanager
    async def _meta(self, step: str, *, code_step: bool = False) -> AsyncIterator[None]:
        """Meta's failures during `step`, as the core reads them: slow, down or throttled is
        ConnectionFailedError; a refused code (`code_step`) is code_rejected; a user token
        refused afterwards is access_denied. No message repeats Meta's, which may quote what
        was sent."""
        try:
            async with asyncio.timeout(self._timeout):
                yield
        except TimeoutError as err:
            raise ConnectionFailedError(
                f"Meta did not answer within {self._timeout:g} s while {step}"
            ) from err
        except (ConnectionFailedError, RateLimitExceededError) as err:
            raise ConnectionFailedError(
                f"Meta was unavailable while {step}", trace_id=err.trace_id
            ) from err
        except DomainError as err:
            if code_step:
                raise ConnectFlowError(
                    ConnectFailure.CODE_REJECTED,
                    "Facebook refused the sign-in's code (expired, already used, or issued for "
                    "another redirect): sign in again",
                ) from err
            if isinstance(err, InvalidCredentialsError):
                raise ConnectFlowError(
                    ConnectFailure.ACCESS_DENIED,
                    f"Facebook refused the sign-in's token while {step}: sign in again",
                ) from err
            raise ConnectionFailedError(f"Meta refused a call while {step}") from err


def missing_permissions(answered: Mapping[str, str]) -> tuple[str, ...]:
    """REQUIRED_SCOPES not granted (declined, expired, or never answered), in their order."""
    return tuple(scope for scope in REQUIRED_SCOPES if answered.get(scope) != "granted")


def leads_pages(pages: list[ManagedPage]) -> list[ManagedPage]:
    """The Pages whose leads the person may read: those where Meta lists the ADVERTISE task (all,
    when it lists no tasks), each once."""
    seen: set[str] = set()
    kept = []
    for page in pages:
        if page.id in seen or (page.tasks is not None and LEADS_TASK not in page.tasks):
            continue
        seen.add(page.id)
        kept.append(page)
    return kept
