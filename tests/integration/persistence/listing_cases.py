"""One listing scenario for everything that lists integrations (the repository and the read
port must agree): four integrations over two sub-accounts, two templates and three statuses,
and the names each filter must list, in id order."""

from __future__ import annotations

from application.ports import IntegrationFilter, UnitOfWorkFactory
from domain.errors import ErrorCode
from domain.integration import IntegrationStatus
from domain.template import IntegrationTemplate
from tests.support.builders import NOW, a_template, an_integration

_ACTIVE = frozenset({IntegrationStatus.ACTIVE})

LISTING_CASES: list[tuple[IntegrationFilter, list[str]]] = [
    (IntegrationFilter(), ["a-pending", "a-active", "a-fb-error", "b-active"]),
    (IntegrationFilter(sub_account_id="sub-a"), ["a-pending", "a-active", "a-fb-error"]),
    (IntegrationFilter(statuses=_ACTIVE), ["a-active", "b-active"]),
    (
        IntegrationFilter(
            sub_account_id="sub-a",
            statuses=frozenset({IntegrationStatus.ACTIVE, IntegrationStatus.ERROR}),
        ),
        ["a-active", "a-fb-error"],
    ),
    (IntegrationFilter(template_name="facebook_ads"), ["a-fb-error"]),
    (
        IntegrationFilter(sub_account_id="sub-b", statuses=_ACTIVE, template_name="gohighlevel"),
        ["b-active"],
    ),
    (IntegrationFilter(sub_account_id="sub-c"), []),
]


async def add_listing_integrations(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    """The scenario's integrations, `template` being the gohighlevel one."""
    other_template = a_template(name="facebook_ads")
    a_pending = an_integration(template, sub_account_id="sub-a", name="a-pending")
    a_active = an_integration(template, sub_account_id="sub-a", name="a-active")
    a_active.activate(now=NOW)
    a_fb_error = an_integration(other_template, sub_account_id="sub-a", name="a-fb-error")
    a_fb_error.fail(code=ErrorCode.CONNECTION_FAILED, message="down", now=NOW)
    b_active = an_integration(template, sub_account_id="sub-b", name="b-active")
    b_active.activate(now=NOW)
    async with uow_factory() as uow:
        await uow.templates.add(other_template)
        for integration in (a_pending, a_active, a_fb_error, b_active):
            await uow.integrations.add(integration)
        await uow.commit()
