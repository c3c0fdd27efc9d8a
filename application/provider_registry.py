"""The providers the service runs, each a bundle of the capabilities it has, looked up by the
template an integration is an instance of."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from application.ports import (
    ConnectFlow,
    EventHandler,
    FunnelSink,
    IntegrationProvider,
    LeadBackfill,
    WebhookHandshake,
    WebhookSender,
)
from domain.integration import Integration
from domain.webhook_delivery import EventKind

_NO_HANDLERS: Mapping[EventKind, EventHandler] = MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class ProviderBundle:
    """One provider: its catalogue entries and the capabilities it has; None (or empty) for one
    it has not (an analytics property receives no webhooks and syncs no contacts)."""

    name: str
    """The provider's short name: its webhook route (``/webhooks/{name}``) and metrics label."""
    templates: tuple[Mapping[str, Any], ...]
    """Its catalogue entries (name, config schema, ...), seeded at start."""
    connection: IntegrationProvider | None = None
    webhooks: WebhookSender | None = None
    handshake: WebhookHandshake | None = None
    """For a sender that checks the endpoint with a GET before sending to it."""
    handlers: Mapping[EventKind, EventHandler] = field(default_factory=dict)
    """How its stored deliveries are applied, by kind; a kind without one is marked ignored."""
    funnel: FunnelSink | None = None
    backfill: LeadBackfill | None = None
    """Lists leads submitted since a moment: what the scheduler runs for it, instead of a sync."""
    rate_limit_key: Callable[[Integration], str] | None = None
    """What the provider limits an integration's calls by (an account of it), for health."""
    connect: ConnectFlow | None = None
    """How a person connects an account by signing in at the provider (OAuth 2.0), when the
    platform's app for it is configured."""

    @property
    def template_names(self) -> frozenset[str]:
        return frozenset(str(t["name"]) for t in self.templates)


class ProviderRegistry:
    """Implements application.ports.ProviderRegistry, and finds every other capability. A
    template in no bundle is in the catalogue but not implemented: its connection tests answer
    'not supported', its deliveries have no handler, it is sent no funnel events."""

    def __init__(self, bundles: Iterable[ProviderBundle]) -> None:
        self._bundles = tuple(bundles)
        self._by_template: dict[str, ProviderBundle] = {}
        names: set[str] = set()
        for bundle in self._bundles:
            if bundle.name in names:
                raise ValueError(f"two providers are named {bundle.name!r}")
            names.add(bundle.name)
            for template in bundle.template_names:
                if template in self._by_template:
                    raise ValueError(f"two providers implement the template {template!r}")
                self._by_template[template] = bundle

    @property
    def bundles(self) -> tuple[ProviderBundle, ...]:
        return self._bundles

    def bundle(self, template_name: str) -> ProviderBundle | None:
        return self._by_template.get(template_name)

    def get(self, template_name: str) -> IntegrationProvider | None:
        bundle = self._by_template.get(template_name)
        return None if bundle is None else bundle.connection

    def handlers(self, template_name: str) -> Mapping[EventKind, EventHandler]:
        bundle = self._by_template.get(template_name)
        return _NO_HANDLERS if bundle is None else bundle.handlers

    def lead_backfill(self, template_name: str) -> LeadBackfill | None:
        bundle = self._by_template.get(template_name)
        return None if bundle is None else bundle.backfill

    def backfill_templates(self) -> frozenset[str]:
        return frozenset(t for b in self._bundles if b.backfill for t in b.template_names)

    def funnel_sink(self, template_name: str) -> FunnelSink | None:
        bundle = self._by_template.get(template_name)
        return None if bundle is None else bundle.funnel

    def connect_flow(self, template_name: str) -> tuple[str, ConnectFlow] | None:
        """The provider's name and its sign-in for the template, if it has one for it."""
        bundle = self._by_template.get(template_name)
        if bundle is None or bundle.connect is None or bundle.connect.template != template_name:
            return None
        return bundle.name, bundle.connect

    def rate_limit_key(self, integration: Integration) -> str:
        """The key the integration's calls draw on: its provider's, else its own."""
        bundle = self._by_template.get(integration.template_name)
        if bundle is None or bundle.rate_limit_key is None:
            return f"integration:{integration.id}"
        return bundle.rate_limit_key(integration)

    def templates(self) -> tuple[Mapping[str, Any], ...]:
        """Every provider's catalogue entries."""
        return tuple(t for bundle in self._bundles for t in bundle.templates)
