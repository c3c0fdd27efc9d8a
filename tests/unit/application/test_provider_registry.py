"""The provider registry: one bundle per provider, found by the templates it implements."""

from __future__ import annotations

import pytest

from application.provider_registry import ProviderBundle, ProviderRegistry
from domain.webhook_delivery import EventKind


class Handler:
    async def handle(self, uow: object, event: object) -> object:
        raise AssertionError("not called here")


def bundle(name: str, *templates: str, **capabilities: object) -> ProviderBundle:
    return ProviderBundle(
        name=name,
        templates=tuple({"name": t} for t in templates),
        **capabilities,  # type: ignore[arg-type]
    )


def test_a_templates_capabilities_are_its_providers() -> None:
    handler = Handler()
    crm = bundle("crm", "crm_token", "crm_oauth", handlers={EventKind.CONTACT_CREATED: handler})
    analytics = bundle("analytics", "analytics_property")
    registry = ProviderRegistry([crm, analytics])

    assert registry.bundle("crm_oauth") is crm
    assert registry.handlers("crm_token") == {EventKind.CONTACT_CREATED: handler}
    assert registry.handlers("analytics_property") == {}
    assert registry.funnel_sink("analytics_property") is None
    assert [t["name"] for t in registry.templates()] == [
        "crm_token",
        "crm_oauth",
        "analytics_property",
    ]


def test_a_template_no_provider_implements_has_no_capability() -> None:
    registry = ProviderRegistry([bundle("crm", "crm_token")])

    assert registry.bundle("unknown") is None
    assert registry.get("unknown") is None
    assert registry.handlers("unknown") == {}


@pytest.mark.parametrize(
    "bundles",
    [
        [bundle("a", "same"), bundle("b", "same")],
        [bundle("same", "t1"), bundle("same", "t2")],
    ],
    ids=["one template, two providers", "one name, two providers"],
)
def test_two_providers_may_not_claim_one_template_or_name(bundles: list[ProviderBundle]) -> None:
    with pytest.raises(ValueError, match="two providers"):
        ProviderRegistry(bundles)
