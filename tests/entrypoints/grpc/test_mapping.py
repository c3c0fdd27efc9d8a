"""The pure translations: the error table, page sizes and tokens, names, etags, Structs, masks."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from google.rpc import error_details_pb2
from sqlalchemy import exc

from domain.errors import (
    ConfigSchemaInvalidError,
    DomainError,
    ErrorCode,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    ProviderNotSupportedError,
    RateLimitExceededError,
    StorageUnavailableError,
)
from entrypoints.grpc import mappers
from entrypoints.grpc.errors import STATUS_CODES, request_fields, rpc_status_of
from entrypoints.grpc.pagination import PageTokens, page_size
from integrations.v1 import integration_pb2

KEY = bytes(range(32))


def _unpack(status: object, kind: type) -> list:  # type: ignore[type-arg]
    found = []
    for detail in status.details:  # type: ignore[attr-defined]
        if detail.Is(kind.DESCRIPTOR):  # type: ignore[attr-defined]
            message = kind()
            detail.Unpack(message)
            found.append(message)
    return found


def test_every_error_code_has_a_grpc_status() -> None:
    assert set(STATUS_CODES) == set(ErrorCode)


def test_the_table_follows_design_section_5() -> None:
    assert STATUS_CODES[ErrorCode.CONFIG_SCHEMA_INVALID] is grpc.StatusCode.INVALID_ARGUMENT
    assert STATUS_CODES[ErrorCode.INVALID_CREDENTIALS] is grpc.StatusCode.FAILED_PRECONDITION
    assert STATUS_CODES[ErrorCode.CONNECTION_FAILED] is grpc.StatusCode.UNAVAILABLE
    assert STATUS_CODES[ErrorCode.RATE_LIMIT_EXCEEDED] is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert STATUS_CODES[ErrorCode.INTEGRATION_NOT_ACTIVE] is grpc.StatusCode.FAILED_PRECONDITION
    assert STATUS_CODES[ErrorCode.NOT_FOUND] is grpc.StatusCode.NOT_FOUND
    assert STATUS_CODES[ErrorCode.VERSION_CONFLICT] is grpc.StatusCode.ABORTED


def test_a_config_error_carries_every_field_violation() -> None:
    error = ConfigSchemaInvalidError(
        "config does not match",
        (FieldViolation("config.apiKey", "is required"), FieldViolation("config.x", "unknown")),
    )

    status = rpc_status_of(error)

    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    (info,) = _unpack(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("CONFIG_SCHEMA_INVALID", "integrations")
    (bad,) = _unpack(status, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("config.apiKey", "is required"),
        ("config.x", "unknown"),
    ]


def test_a_rate_limit_carries_retry_info() -> None:
    status = rpc_status_of(RateLimitExceededError("slow down", retry_after_seconds=1.5))

    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    (retry,) = _unpack(status, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() == 1500


def test_an_unreachable_database_is_unavailable_with_retry_info() -> None:
    untranslated = exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    for error in (StorageUnavailableError("the database is unavailable"), untranslated):
        status = rpc_status_of(error)

        assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
        (info,) = _unpack(status, error_details_pb2.ErrorInfo)
        assert info.reason == "STORAGE_UNAVAILABLE"
        (retry,) = _unpack(status, error_details_pb2.RetryInfo)
        assert retry.retry_delay.ToMilliseconds() > 0
    # An OSError of anything else says nothing about the database.
    assert (
        rpc_status_of(ConnectionRefusedError("refused")).code == grpc.StatusCode.INTERNAL.value[0]
    )


def test_error_metadata_travels_in_error_info() -> None:
    status = rpc_status_of(NotFoundError("integration", "i-1"))

    (info,) = _unpack(status, error_details_pb2.ErrorInfo)
    assert dict(info.metadata) == {"resource": "integration", "id": "i-1"}


def test_an_unsupported_provider_is_unimplemented() -> None:
    status = rpc_status_of(ProviderNotSupportedError("facebook_ads is not supported yet"))

    assert status.code == grpc.StatusCode.UNIMPLEMENTED.value[0]


def test_an_unexpected_error_is_internal_and_says_nothing_of_itself() -> None:
    status = rpc_status_of(KeyError("apiKey=pit-secret"))

    assert status.code == grpc.StatusCode.INTERNAL.value[0]
    assert status.message == "internal error"
    assert b"pit-secret" not in status.SerializeToString()


def test_violation_paths_are_moved_under_the_request_field() -> None:
    with (
        pytest.raises(InvalidArgumentError) as caught,
        request_fields({"name": "integration.display_name", "config": "integration.config"}),
    ):
        raise ConfigSchemaInvalidError(
            "bad",
            (
                FieldViolation("config.apiKey", "is required"),
                FieldViolation("name", "blank"),
                FieldViolation("update_mask", "bad"),
            ),
        )

    assert [v.field for v in caught.value.violations] == [
        "integration.config.apiKey",
        "integration.display_name",
        "update_mask",
    ]


def test_other_domain_errors_pass_through_the_path_mapping_untouched() -> None:
    error = NotFoundError("integration", "x")

    with pytest.raises(DomainError) as caught, request_fields({"name": "integration.name"}):
        raise error

    assert caught.value is error


@pytest.mark.parametrize(("requested", "expected"), [(0, 50), (1, 1), (500, 500), (501, 500)])
def test_page_sizes_default_and_clamp(requested: int, expected: int) -> None:
    assert page_size(requested) == expected


def test_a_page_token_opens_only_for_the_scope_it_was_sealed_for() -> None:
    tokens = PageTokens(KEY)
    scope = {"method": "ListIntegrations", "states": ["active"]}
    token = tokens.next_token("id-000042", scope)

    assert tokens.request(size=10, token=token, scope=dict(scope)).after_id == "id-000042"
    assert "id-000042" not in token
    with pytest.raises(InvalidArgumentError):
        tokens.request(size=10, token=token, scope={**scope, "states": ["error"]})
    with pytest.raises(InvalidArgumentError):
        PageTokens(bytes(32)).request(size=10, token=token, scope=scope)


@pytest.mark.parametrize("token", ["!!!", "AQ", "A" * 40])
def test_a_page_token_that_is_not_one_of_ours_is_invalid(token: str) -> None:
    with pytest.raises(InvalidArgumentError, match="page_token"):
        PageTokens(KEY).request(size=10, token=token, scope={"method": "m"})


def test_the_last_page_has_no_next_token() -> None:
    assert PageTokens(KEY).next_token(None, {"method": "m"}) == ""


@pytest.mark.parametrize(
    "name",
    [
        "",
        "integrations/",
        "integrations/a/b",
        "projects/x",
        "integrations/-x",
        "integrations/" + "a" * 64,
    ],
)
def test_integration_names_are_parsed_strictly(name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        mappers.integration_id_of(name)


def test_an_integration_name_round_trips() -> None:
    uuid = "0190f3c2-7b1e-7cc1-8a4f-3b2d1c0e9f8a"

    assert mappers.integration_id_of(mappers.integration_name(uuid)) == uuid


@pytest.mark.parametrize("etag", ['"3"', "W/3", 'W/"0"', 'W/"-1"', 'W/"3" '])
def test_an_etag_not_issued_by_the_service_is_invalid(etag: str) -> None:
    with pytest.raises(InvalidArgumentError):
        mappers.version_of(etag, field="etag")


def test_an_etag_stands_for_a_version() -> None:
    assert mappers.version_of(mappers.etag_of(7), field="etag") == 7
    assert mappers.version_of("", field="etag") is None


def test_integral_struct_numbers_come_back_as_ints() -> None:
    struct = struct_pb2.Struct()
    struct.update({"port": 443, "ratio": 0.5, "nested": {"n": 2}, "list": [1, 1.5], "on": True})

    values = mappers.struct_to_dict(struct)

    assert values == {"port": 443, "ratio": 0.5, "nested": {"n": 2}, "list": [1, 1.5], "on": True}
    assert type(values["port"]) is int
    assert type(values["list"][1]) is float
    assert values["on"] is True


def test_a_star_mask_replaces_every_updatable_integration_field() -> None:
    mask = mappers.integration_update_mask(
        integration_pb2.Integration(), field_mask_pb2.FieldMask(paths=["*"])
    )

    assert mask == ("name", "description", "config")


def test_an_absent_mask_names_the_fields_set_in_the_request() -> None:
    integration = integration_pb2.Integration(description="new")
    integration.config.update({"locationId": "l", "apiKey": "k"})

    mask = mappers.integration_update_mask(integration, field_mask_pb2.FieldMask())

    assert mask == ("description", "config.apiKey", "config.locationId")


@pytest.mark.parametrize("path", ["state", "name", "config.", "sub_account_id", "etag"])
def test_a_mask_naming_a_field_that_cannot_change_is_invalid(path: str) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot be updated"):
        mappers.integration_update_mask(
            integration_pb2.Integration(), field_mask_pb2.FieldMask(paths=[path])
        )


def test_template_changes_take_only_the_masked_fields() -> None:
    template = integration_pb2.IntegrationTemplate(display_name="X", icon="i", is_active=False)

    changes = mappers.template_changes(
        template, field_mask_pb2.FieldMask(paths=["display_name", "is_active"])
    )
    implied = mappers.template_changes(template, field_mask_pb2.FieldMask())

    assert changes == {"display_name": "X", "is_active": False}
    assert implied == {"display_name": "X", "icon": "i", "is_active": False}
