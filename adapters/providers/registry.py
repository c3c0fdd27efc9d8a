"""A fixed registry of providers keyed by template name."""

from __future__ import annotations

from collections.abc import Mapping

from application.ports import IntegrationProvider


class StaticProviderRegistry:
    """Implements application.ports.ProviderRegistry. A template with no entry here is in the
    catalogue but not implemented yet: its connection tests answer 'not supported'."""

    def __init__(self, providers: Mapping[str, IntegrationProvider]) -> None:
        self._providers = dict(providers)

    def get(self, template_name: str) -> IntegrationProvider | None:
        return self._providers.get(template_name)
