"""GetFreeSlots and CreateBlockSlot over gRPC, on a scripted GHL calendar API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2

from domain.errors import InvalidCredentialsError
from integrations.v1 import integration_pb2
from integrations.v1 import integration_service_pb2 as pb
from tests.entrypoints.grpc.conftest import (
    API_KEY,
    Service,
    admin_md,
    create_ghl,
    other_user_md,
    rejected,
    user_md,
)

START = datetime(2026, 12, 1, 14, tzinfo=UTC)


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


def slots_request(name: str, **overrides: object) -> pb.GetFreeSlotsRequest:
    fields: dict[str, object] = {
        "name": name,
        "start_time": stamp(START),
        "end_time": stamp(START + timedelta(days=7)),
        "time_zone": "America/Chicago",
    }
    fields.update(overrides)
    return pb.GetFreeSlotsRequest(**fields)  # type: ignore[arg-type]


async def test_free_slots_come_from_the_default_calendar_with_the_integrations_key(
    service: Service,
) -> None:
    created = await create_ghl(
        service, apiKey=API_KEY, locationId="loc-1", calendarId="cal-default"
    )
    response = await service.stub.GetFreeSlots(
        slots_request(created.integration.name), metadata=user_md()
    )
    assert response.time_zone == "America/Chicago"
    assert [d.date for d in response.days] == ["2026-12-01"]
    assert response.days[0].slots[0].ToDatetime(tzinfo=UTC) == datetime(
        2026, 12, 1, 15, tzinfo=UTC
    )  # 09:00 in Chicago
    [(method, call, calendar, _)] = service.calendars.calls
    assert (method, calendar, call.config["locationId"]) == (
        "get_free_slots",
        "cal-default",
        "loc-1",
    )
    api_key = call.credentials.get("apiKey")
    assert api_key is not None
    assert api_key.reveal() == API_KEY


async def test_a_block_slot_goes_to_the_calendar_asked_for(service: Service) -> None:
    created = await create_ghl(service)
    response = await service.stub.CreateBlockSlot(
        pb.CreateBlockSlotRequest(
            name=created.integration.name,
            calendar_id="cal-7",
            start_time=stamp(START),
            end_time=stamp(START + timedelta(hours=1)),
            title="Lunch",
        ),
        metadata=user_md(),
    )
    assert response.block_slot.id == "block-1"
    assert response.block_slot.calendar_id == "cal-7"
    assert response.block_slot.end_time.ToDatetime(tzinfo=UTC) == START + timedelta(hours=1)


async def test_a_switched_off_integration_answers_integration_not_active(service: Service) -> None:
    created = await create_ghl(service, apiKey=API_KEY, locationId="l", calendarId="c")
    await service.stub.DeactivateIntegration(
        pb.DeactivateIntegrationRequest(name=created.integration.name), metadata=admin_md()
    )
    rejection = await rejected(
        service.stub.GetFreeSlots(slots_request(created.integration.name), metadata=user_md())
    )
    assert rejection.code == grpc.StatusCode.FAILED_PRECONDITION
    assert rejection.error_info.reason == "INTEGRATION_NOT_ACTIVE"
    assert service.calendars.calls == []


async def test_a_range_over_31_days_and_a_bad_zone_are_refused_before_any_call(
    service: Service,
) -> None:
    created = await create_ghl(service, apiKey=API_KEY, locationId="l", calendarId="c")
    rejection = await rejected(
        service.stub.GetFreeSlots(
            slots_request(
                created.integration.name,
                end_time=stamp(START + timedelta(days=32)),
                time_zone="Mars/Olympus",
            ),
            metadata=user_md(),
        )
    )
    assert rejection.code == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in rejection.bad_request.field_violations}
    assert fields == {"end_time", "time_zone"}
    assert service.calendars.calls == []


async def test_no_calendar_anywhere_is_an_invalid_argument(service: Service) -> None:
    created = await create_ghl(service)  # no calendarId in its config
    rejection = await rejected(
        service.stub.GetFreeSlots(slots_request(created.integration.name), metadata=user_md())
    )
    assert rejection.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in rejection.bad_request.field_violations] == ["calendar_id"]


async def test_another_tenant_cannot_reach_the_calendar(service: Service) -> None:
    created = await create_ghl(service, apiKey=API_KEY, locationId="l", calendarId="c")
    rejection = await rejected(
        service.stub.GetFreeSlots(slots_request(created.integration.name), metadata=other_user_md())
    )
    assert rejection.code == grpc.StatusCode.NOT_FOUND


async def test_refused_credentials_move_the_integration_to_error(service: Service) -> None:
    created = await create_ghl(service, apiKey=API_KEY, locationId="l", calendarId="c")
    service.calendars.error = InvalidCredentialsError("GoHighLevel refused the token")
    rejection = await rejected(
        service.stub.GetFreeSlots(slots_request(created.integration.name), metadata=user_md())
    )
    assert rejection.code == grpc.StatusCode.FAILED_PRECONDITION
    assert rejection.error_info.reason == "INVALID_CREDENTIALS"
    fetched = await service.stub.GetIntegration(
        pb.GetIntegrationRequest(name=created.integration.name), metadata=user_md()
    )
    assert fetched.integration.state == integration_pb2.Integration.STATE_ERROR
    assert fetched.integration.error_code == "INVALID_CREDENTIALS"
