"""IntegrationService: each RPC translates its request, calls one use case, translates back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

from application.use_cases.create_block_slot import CreateBlockSlot, CreateBlockSlotCommand
from application.use_cases.create_integration import CreateIntegration, CreateIntegrationCommand
from application.use_cases.create_template import CreateTemplate, CreateTemplateCommand
from application.use_cases.delete_integration import DeleteIntegration, DeleteIntegrationCommand
from application.use_cases.get_free_slots import GetFreeSlots, GetFreeSlotsQuery
from application.use_cases.get_integration import (
    GetIntegration,
    GetIntegrationQuery,
    ListIntegrations,
    ListIntegrationsQuery,
)
from application.use_cases.get_integration_health import (
    GetIntegrationHealth,
    GetIntegrationHealthQuery,
)
from application.use_cases.get_template import (
    GetTemplate,
    GetTemplateQuery,
    ListTemplates,
    ListTemplatesQuery,
)
from application.use_cases.run_connection_test import TestIntegration, TestIntegrationCommand
from application.use_cases.switch_integration import (
    DeactivateIntegration,
    ReactivateIntegration,
    SwitchIntegrationCommand,
)
from application.use_cases.sync_integration import SyncIntegration, SyncIntegrationCommand
from application.use_cases.update_integration import UpdateIntegration, UpdateIntegrationCommand
from application.use_cases.update_template import UpdateTemplate, UpdateTemplateCommand
from domain.template import DEFAULT_RATE_LIMIT_PER_MINUTE
from entrypoints.grpc import health_mappers, mappers, sync_mappers
from entrypoints.grpc.errors import request_fields
from entrypoints.grpc.interceptors import current_principal
from entrypoints.grpc.pagination import PageTokens, Scope
from integrations.v1 import integration_service_pb2 as pb
from integrations.v1 import integration_service_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

_MAX_REQUEST_ID = 128

# Where the use cases' field paths live in the requests, for BadRequest field violations.
_INTEGRATION_FIELDS = {
    "name": "integration.display_name",
    "description": "integration.description",
    "config": "integration.config",
    "sub_account_id": "integration.sub_account_id",
}
_TEMPLATE_FIELDS = {f: f"integration_template.{f}" for f in mappers.TEMPLATE_UPDATABLE}


@dataclass(frozen=True, slots=True, kw_only=True)
class GrpcUseCases:
    """Every use case IntegrationService calls, built by the composition root."""

    list_templates: ListTemplates
    get_template: GetTemplate
    create_template: CreateTemplate
    update_template: UpdateTemplate
    list_integrations: ListIntegrations
    get_integration: GetIntegration
    create_integration: CreateIntegration
    update_integration: UpdateIntegration
    delete_integration: DeleteIntegration
    test_integration: TestIntegration
    deactivate_integration: DeactivateIntegration
    reactivate_integration: ReactivateIntegration
    get_free_slots: GetFreeSlots
    create_block_slot: CreateBlockSlot
    get_integration_health: GetIntegrationHealth | None = None
    """None: GetIntegrationHealth answers UNIMPLEMENTED."""
    sync_integration: SyncIntegration | None = None
    """None: SyncIntegration answers UNIMPLEMENTED."""


class IntegrationServiceServicer(pb_grpc.IntegrationServiceServicer):
    """Thin: the caller comes from ServingInterceptor, which also maps errors; rules live in the
    use cases."""

    def __init__(self, use_cases: GrpcUseCases, page_tokens: PageTokens) -> None:
        self._uc = use_cases
        self._pages = page_tokens

    # --- templates ----------------------------------------------------------------------------

    async def ListIntegrationTemplates(
        self, request: pb.ListIntegrationTemplatesRequest, context: Context
    ) -> pb.ListIntegrationTemplatesResponse:
        scope: Scope = {"method": "ListIntegrationTemplates"}
        page = await self._uc.list_templates.execute(
            ListTemplatesQuery(
                actor=current_principal(),
                page=self._pages.request(
                    size=request.page_size, token=request.page_token, scope=scope
                ),
            )
        )
        return pb.ListIntegrationTemplatesResponse(
            integration_templates=[mappers.template_to_proto(t) for t in page.items],
            next_page_token=self._pages.next_token(page.next_after_id, scope),
        )

    async def GetIntegrationTemplate(
        self, request: pb.GetIntegrationTemplateRequest, context: Context
    ) -> pb.GetIntegrationTemplateResponse:
        view = await self._uc.get_template.execute(
            GetTemplateQuery(
                actor=current_principal(), template_id=mappers.template_id_of(request.name)
            )
        )
        return pb.GetIntegrationTemplateResponse(
            integration_template=mappers.template_to_proto(view)
        )

    async def CreateIntegrationTemplate(
        self, request: pb.CreateIntegrationTemplateRequest, context: Context
    ) -> pb.CreateIntegrationTemplateResponse:
        template = request.integration_template
        with request_fields({**_TEMPLATE_FIELDS, "name": "integration_template_id"}):
            view = await self._uc.create_template.execute(
                CreateTemplateCommand(
                    actor=current_principal(),
                    name=request.integration_template_id,
                    display_name=template.display_name,
                    config_schema=mappers.struct_to_dict(template.config_schema),
                    description=template.description,
                    category=template.category,
                    icon=template.icon,
                    setup_instructions=template.setup_instructions,
                    webhook_url=template.webhook_url,
                    api_version=template.api_version,
                    is_active=template.is_active if template.HasField("is_active") else True,
                    rate_limit_per_minute=template.rate_limit_per_minute
                    or DEFAULT_RATE_LIMIT_PER_MINUTE,
                )
            )
        return pb.CreateIntegrationTemplateResponse(
            integration_template=mappers.template_to_proto(view)
        )

    async def UpdateIntegrationTemplate(
        self, request: pb.UpdateIntegrationTemplateRequest, context: Context
    ) -> pb.UpdateIntegrationTemplateResponse:
        template = request.integration_template
        actor = current_principal()
        slug = mappers.template_id_of(template.name, field="integration_template.name")
        expected = mappers.version_of(template.etag, field="integration_template.etag")
        changes = mappers.template_changes(template, request.update_mask)
        with request_fields(_TEMPLATE_FIELDS):
            view = await self._uc.update_template.execute(
                UpdateTemplateCommand(
                    actor=actor,
                    template_id=slug,
                    changes=changes,
                    expected_version=expected,
                )
            )
        return pb.UpdateIntegrationTemplateResponse(
            integration_template=mappers.template_to_proto(view)
        )

    # --- integrations -------------------------------------------------------------------------

    async def ListIntegrations(
        self, request: pb.ListIntegrationsRequest, context: Context
    ) -> pb.ListIntegrationsResponse:
        statuses = frozenset(mappers.status_of(s, field="states") for s in request.states)
        template = (
            mappers.template_id_of(request.template, field="template") if request.template else ""
        )
        scope: Scope = {
            "method": "ListIntegrations",
            "sub_account_id": request.sub_account_id,
            "states": sorted(s.value for s in statuses),
            "template": template,
        }
        page = await self._uc.list_integrations.execute(
            ListIntegrationsQuery(
                actor=current_principal(),
                page=self._pages.request(
                    size=request.page_size, token=request.page_token, scope=scope
                ),
                sub_account_id=request.sub_account_id or None,
                statuses=statuses,
                template_name=template or None,
            )
        )
        return pb.ListIntegrationsResponse(
            integrations=[mappers.integration_to_proto(i) for i in page.items],
            next_page_token=self._pages.next_token(page.next_after_id, scope),
        )

    async def GetIntegration(
        self, request: pb.GetIntegrationRequest, context: Context
    ) -> pb.GetIntegrationResponse:
        view = await self._uc.get_integration.execute(
            GetIntegrationQuery(
                actor=current_principal(), integration_id=mappers.integration_id_of(request.name)
            )
        )
        return pb.GetIntegrationResponse(integration=mappers.integration_to_proto(view))

    async def CreateIntegration(
        self, request: pb.CreateIntegrationRequest, context: Context
    ) -> pb.CreateIntegrationResponse:
        integration = request.integration
        if len(request.request_id) > _MAX_REQUEST_ID:
            raise mappers.invalid("request_id", f"must be at most {_MAX_REQUEST_ID} characters")
        template = mappers.template_id_of(integration.template, field="integration.template")
        with request_fields(_INTEGRATION_FIELDS):
            result = await self._uc.create_integration.execute(
                CreateIntegrationCommand(
                    actor=current_principal(),
                    sub_account_id=integration.sub_account_id,
                    template=template,
                    name=integration.display_name,
                    description=integration.description,
                    config=mappers.struct_to_dict(integration.config),
                    request_id=request.request_id or None,
                )
            )
        return pb.CreateIntegrationResponse(
            integration=mappers.integration_to_proto(result.integration),
            connection_test=mappers.test_result_to_proto(result.test),
        )

    async def UpdateIntegration(
        self, request: pb.UpdateIntegrationRequest, context: Context
    ) -> pb.UpdateIntegrationResponse:
        integration = request.integration
        integration_id = mappers.integration_id_of(integration.name, field="integration.name")
        expected = mappers.version_of(integration.etag, field="integration.etag")
        mask = mappers.integration_update_mask(integration, request.update_mask)
        with request_fields(_INTEGRATION_FIELDS):
            result = await self._uc.update_integration.execute(
                UpdateIntegrationCommand(
                    actor=current_principal(),
                    integration_id=integration_id,
                    update_mask=mask,
                    name=integration.display_name,
                    description=integration.description,
                    config=mappers.struct_to_dict(integration.config),
                    expected_version=expected,
                )
            )
        return pb.UpdateIntegrationResponse(
            integration=mappers.integration_to_proto(result.integration),
            connection_test=mappers.test_result_to_proto(result.test),
        )

    async def DeleteIntegration(
        self, request: pb.DeleteIntegrationRequest, context: Context
    ) -> pb.DeleteIntegrationResponse:
        await self._uc.delete_integration.execute(
            DeleteIntegrationCommand(
                actor=current_principal(),
                integration_id=mappers.integration_id_of(request.name),
                expected_version=mappers.version_of(request.etag, field="etag"),
                force=request.force,
            )
        )
        return pb.DeleteIntegrationResponse()

    async def TestIntegration(
        self, request: pb.TestIntegrationRequest, context: Context
    ) -> pb.TestIntegrationResponse:
        result = await self._uc.test_integration.execute(
            TestIntegrationCommand(
                actor=current_principal(), integration_id=mappers.integration_id_of(request.name)
            )
        )
        return pb.TestIntegrationResponse(
            integration=mappers.integration_to_proto(result.integration),
            connection_test=mappers.test_result_to_proto(result.test),
        )

    async def DeactivateIntegration(
        self, request: pb.DeactivateIntegrationRequest, context: Context
    ) -> pb.DeactivateIntegrationResponse:
        result = await self._uc.deactivate_integration.execute(
            SwitchIntegrationCommand(
                actor=current_principal(), integration_id=mappers.integration_id_of(request.name)
            )
        )
        return pb.DeactivateIntegrationResponse(
            integration=mappers.integration_to_proto(result.integration)
        )

    async def ReactivateIntegration(
        self, request: pb.ReactivateIntegrationRequest, context: Context
    ) -> pb.ReactivateIntegrationResponse:
        result = await self._uc.reactivate_integration.execute(
            SwitchIntegrationCommand(
                actor=current_principal(), integration_id=mappers.integration_id_of(request.name)
            )
        )
        return pb.ReactivateIntegrationResponse(
            integration=mappers.integration_to_proto(result.integration),
            connection_test=mappers.test_result_to_proto(result.test),
        )

    async def GetIntegrationHealth(
        self, request: pb.GetIntegrationHealthRequest, context: Context
    ) -> pb.GetIntegrationHealthResponse:
        if self._uc.get_integration_health is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "health checks are not set up")
        health = await self._uc.get_integration_health.execute(
            GetIntegrationHealthQuery(
                actor=current_principal(), integration_id=mappers.integration_id_of(request.name)
            )
        )
        return pb.GetIntegrationHealthResponse(
            integration_health=health_mappers.health_to_proto(health)
        )

    async def SyncIntegration(
        self, request: pb.SyncIntegrationRequest, context: Context
    ) -> pb.SyncIntegrationResponse:
        if self._uc.sync_integration is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "sync is not set up")
        result = await self._uc.sync_integration.execute(
            SyncIntegrationCommand(
                actor=current_principal(), integration_id=mappers.integration_id_of(request.name)
            )
        )
        return pb.SyncIntegrationResponse(
            integration=mappers.integration_to_proto(result.integration),
            sync_run=sync_mappers.sync_run_to_proto(result.run),
        )

    # --- calendars ----------------------------------------------------------------------------

    async def GetFreeSlots(
        self, request: pb.GetFreeSlotsRequest, context: Context
    ) -> pb.GetFreeSlotsResponse:
        query = GetFreeSlotsQuery(
            actor=current_principal(),
            integration_id=mappers.integration_id_of(request.name),
            calendar_id=request.calendar_id,
            start=mappers.moment_of(
                request.start_time, field="start_time", present=request.HasField("start_time")
            ),
            end=mappers.moment_of(
                request.end_time, field="end_time", present=request.HasField("end_time")
            ),
            timezone=request.time_zone,
            user_id=request.user_id or None,
        )
        with request_fields({"timezone": "time_zone"}):
            slots = await self._uc.get_free_slots.execute(query)
        return mappers.free_slots_to_proto(slots)

    async def CreateBlockSlot(
        self, request: pb.CreateBlockSlotRequest, context: Context
    ) -> pb.CreateBlockSlotResponse:
        block = await self._uc.create_block_slot.execute(
            CreateBlockSlotCommand(
                actor=current_principal(),
                integration_id=mappers.integration_id_of(request.name),
                calendar_id=request.calendar_id,
                start=mappers.moment_of(
                    request.start_time, field="start_time", present=request.HasField("start_time")
                ),
                end=mappers.moment_of(
                    request.end_time, field="end_time", present=request.HasField("end_time")
                ),
                title=request.title,
            )
        )
        return pb.CreateBlockSlotResponse(block_slot=mappers.block_slot_to_proto(block))
