"""Use cases wired on the in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters.schema import JsonSchemaConfigValidator
from application.connection import ConnectionTester
from application.use_cases.create_integration import CreateIntegration
from application.use_cases.create_template import CreateTemplate
from application.use_cases.delete_integration import DeleteIntegration
from application.use_cases.get_integration import GetIntegration, ListIntegrations
from application.use_cases.get_template import GetTemplate, ListTemplates
from application.use_cases.run_connection_test import TestIntegration
from application.use_cases.seed_templates import SeedTemplates
from application.use_cases.switch_integration import DeactivateIntegration, ReactivateIntegration
from application.use_cases.update_integration import UpdateIntegration
from application.use_cases.update_template import UpdateTemplate
from domain.values import Principal, Role
from entrypoints.catalogue import BUILT_IN_TEMPLATES
from tests.fakes import (
    FakeCipher,
    FakeIntegrationReads,
    FakeProvider,
    FakeProviderRegistry,
    FakeUnitOfWorkFactory,
    FixedClock,
    NoPendingChanges,
    SequentialIds,
)

ADMIN = Principal("admin-1", Role.ADMIN)
USER = Principal("user-1", Role.USER, "sa-1")
OTHER_USER = Principal("user-2", Role.USER, "sa-2")


@dataclass
class App:
    uow: FakeUnitOfWorkFactory
    clock: FixedClock
    provider: FakeProvider
    cipher: FakeCipher
    create_template: CreateTemplate
    update_template: UpdateTemplate
    get_template: GetTemplate
    list_templates: ListTemplates
    create: CreateIntegration
    get: GetIntegration
    list: ListIntegrations
    update: UpdateIntegration
    delete: DeleteIntegration
    test: TestIntegration
    deactivate: DeactivateIntegration
    reactivate: ReactivateIntegration


@pytest.fixture
async def app() -> App:
    uow = FakeUnitOfWorkFactory()
    clock = FixedClock()
    ids = SequentialIds()
    validator = JsonSchemaConfigValidator()
    cipher = FakeCipher()
    provider = FakeProvider()
    tester = ConnectionTester(
        uow_factory=uow,
        providers=FakeProviderRegistry({"gohighlevel": provider}),
        cipher=cipher,
        clock=clock,
    )
    await SeedTemplates(
        uow=uow, validator=validator, ids=ids, clock=clock, templates=BUILT_IN_TEMPLATES
    ).execute()
    return App(
        uow=uow,
        clock=clock,
        provider=provider,
        cipher=cipher,
        create_template=CreateTemplate(uow=uow, validator=validator, ids=ids, clock=clock),
        update_template=UpdateTemplate(uow=uow, validator=validator, clock=clock),
        get_template=GetTemplate(uow=uow),
        list_templates=ListTemplates(uow=uow),
        create=CreateIntegration(
            uow=uow, validator=validator, cipher=cipher, tester=tester, ids=ids, clock=clock
        ),
        get=GetIntegration(reads=FakeIntegrationReads(uow)),
        list=ListIntegrations(reads=FakeIntegrationReads(uow)),
        update=UpdateIntegration(
            uow=uow, validator=validator, cipher=cipher, tester=tester, clock=clock
        ),
        delete=DeleteIntegration(uow=uow, clock=clock, pending=NoPendingChanges()),
        test=TestIntegration(uow=uow, tester=tester),
        deactivate=DeactivateIntegration(uow=uow, clock=clock),
        reactivate=ReactivateIntegration(uow=uow, tester=tester, clock=clock),
    )
