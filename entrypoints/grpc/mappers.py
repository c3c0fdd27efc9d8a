"""Protobuf <-> application DTOs: resource names, etags, Structs, field masks, timestamps."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2, timestamp_pb2

from application.dto import IntegrationView, TemplateView
from application.ports import ConnectionTestResult
from application.ports.crm import BlockSlot, FreeSlots
from domain.errors import FieldViolation, InvalidArgumentError
from domain.integration import IntegrationStatus
from domain.template import IntegrationTemplate
from integrations.v1 import integration_pb2
from integrations.v1 import integration_service_pb2 as pb

INTEGRATIONS = "integrations/"
TEMPLATES = "integrationTemplates/"
# Resource ids: server-made UUIDs for integrations (AIP-122 limits a segment to 63 characters).
_INTEGRATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
# Template ids are their slugs, the rule of domain.template.
_TEMPLATE_ID = re.compile(r"[a-z][a-z0-9_]{1,62}")
_ETAG = re.compile(r'W/"([1-9][0-9]{0,17})"')
_WILDCARD = "*"

State = integration_pb2.Integration.State
STATES: Mapping[IntegrationStatus, State.ValueType] = {
    IntegrationStatus.PENDING: State.STATE_PENDING,
    IntegrationStatus.ACTIVE: State.STATE_ACTIVE,
    IntegrationStatus.ERROR: State.STATE_ERROR,
    IntegrationStatus.DISCONNECTED: State.STATE_DISCONNECTED,
}
_STATUSES: Mapping[int, IntegrationStatus] = {int(v): k for k, v in STATES.items()}

# Updatable through UpdateIntegrationTemplate; the proto and domain names agree.
TEMPLATE_UPDATABLE = tuple(sorted(IntegrationTemplate.UPDATABLE))
# Updatable through UpdateIntegration: the proto's names and the domain's (`name`).
_INTEGRATION_UPDATABLE = {"display_name": "name", "description": "description", "config": "config"}
_CONFIG_PREFIX = "config."


def invalid(field: str, description: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{field} {description}", (FieldViolation(field, description),))


# --- resource names and etags ----------------------------------------------------------------


def integration_name(integration_id: str) -> str:
    return INTEGRATIONS + integration_id


def integration_id_of(name: str, *, field: str = "name") -> str:
    """The id in `integrations/{id}`; anything else is INVALID_ARGUMENT."""
    return _resource_id(name, INTEGRATIONS, _INTEGRATION_ID, field)


ALL_INTEGRATIONS = INTEGRATIONS + "-"


def integration_parent_of(parent: str) -> str | None:
    """The integration id of a `parent` of `integrations/{id}`; None for `integrations/-`
    (every integration the caller may see)."""
    if parent == ALL_INTEGRATIONS:
        return None
    return integration_id_of(parent, field="parent")


def child_ids_of(name: str, collection: str, *, field: str) -> tuple[str, str]:
    """(integration id, child id) of `integrations/{integration}/{collection}/{child}`."""
    parent, separator, child_id = name.partition(f"/{collection}/")
    if not separator or not _INTEGRATION_ID.fullmatch(child_id):
        raise invalid(
            field,
            f"must be a resource name of the form integrations/{{integration}}/{collection}/{{id}}",
        )
    return integration_id_of(parent, field=field), child_id


def template_name(slug: str) -> str:
    return TEMPLATES + slug


def template_id_of(name: str, *, field: str = "name") -> str:
    """The slug in `integrationTemplates/{slug}`; anything else is INVALID_ARGUMENT."""
    return _resource_id(name, TEMPLATES, _TEMPLATE_ID, field)


def _resource_id(name: str, collection: str, pattern: re.Pattern[str], field: str) -> str:
    if not name:
        raise invalid(field, "is required")
    resource_id = name.removeprefix(collection)
    if resource_id == name or not pattern.fullmatch(resource_id):
        raise invalid(field, f"must be a resource name of the form {collection}{{id}}")
    return resource_id


def etag_of(version: int) -> str:
    """Weak (semantic) etag of an aggregate version; clients treat it as opaque."""
    return f'W/"{version}"'


def version_of(etag: str, *, field: str) -> int | None:
    """The version an etag stands for; None when no etag was sent (no concurrency check)."""
    if not etag:
        return None
    match = _ETAG.fullmatch(etag)
    if match is None:
        raise invalid(field, "is not an etag returned by this service")
    return int(match.group(1))


# --- values ----------------------------------------------------------------------------------


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain JSON values. A Struct holds every number as a double, so integral ones
    become ints again (443.0 -> 443): what a JSON client sent as 443 stays an integer. Other
    numbers stay floats; integers beyond 2**53 cannot travel through a Struct exactly."""
    return {key: _plain(value) for key, value in struct.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, struct_pb2.Struct):
        return struct_to_dict(value)
    if isinstance(value, struct_pb2.ListValue):
        return [_plain(item) for item in value]
    return value


def dict_to_struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    return None if moment is None else _required_timestamp(moment)


def moment_of(stamp: timestamp_pb2.Timestamp, *, field: str, present: bool) -> datetime:
    """A required Timestamp field as an aware UTC datetime."""
    moment = optional_moment_of(stamp, field=field, present=present)
    if moment is None:
        raise invalid(field, "is required")
    return moment


def optional_moment_of(
    stamp: timestamp_pb2.Timestamp, *, field: str, present: bool
) -> datetime | None:
    """An optional Timestamp field as an aware UTC datetime; out of range is INVALID_ARGUMENT."""
    if not present:
        return None
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise invalid(field, "must be a valid timestamp (years 1 to 9999)") from None


def free_slots_to_proto(slots: FreeSlots) -> pb.GetFreeSlotsResponse:
    return pb.GetFreeSlotsResponse(
        time_zone=slots.timezone,
        days=[
            pb.FreeSlotDay(
                date=day.isoformat(), slots=[_required_timestamp(s) for s in slots.days[day]]
            )
            for day in sorted(slots.days)
        ],
    )


def block_slot_to_proto(block: BlockSlot) -> pb.BlockSlot:
    return pb.BlockSlot(
        id=block.id,
        calendar_id=block.calendar_id or "",
        title=block.title or "",
        start_time=_required_timestamp(block.start),
        end_time=_required_timestamp(block.end),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _required_timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    set_moment(stamp, moment)
    return stamp


def set_moment(stamp: timestamp_pb2.Timestamp, moment: datetime) -> None:
    # What Timestamp.FromDatetime sets (a naive moment is UTC), without its round trip through
    # a time tuple, which costs more than the rest of an integration's mapping.
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    elapsed = moment - _EPOCH
    stamp.seconds = elapsed.days * 86_400 + elapsed.seconds
    stamp.nanos = elapsed.microseconds * 1_000


def status_of(state: int, *, field: str) -> IntegrationStatus:
    """The domain status of a State filter value; STATE_UNSPECIFIED or unknown is invalid."""
    status = _STATUSES.get(state)
    if status is None:
        raise invalid(field, f"holds an unknown state {state}")
    return status


# --- resources -------------------------------------------------------------------------------


def template_to_proto(view: TemplateView) -> integration_pb2.IntegrationTemplate:
    return integration_pb2.IntegrationTemplate(
        name=template_name(view.name),
        display_name=view.display_name,
        description=view.description,
        category=view.category,
        icon=view.icon,
        config_schema=dict_to_struct(view.config_schema),
        secret_fields=sorted(view.secret_fields),
        setup_instructions=view.setup_instructions,
        webhook_url=view.webhook_url,
        api_version=view.api_version,
        is_active=view.is_active,
        rate_limit_per_minute=view.rate_limit_per_minute,
        creator=view.created_by_admin_id or "",
        create_time=_timestamp(view.created_at),
        update_time=_timestamp(view.updated_at),
        etag=etag_of(view.version),
    )


def integration_to_proto(view: IntegrationView) -> integration_pb2.Integration:
    """The integration as callers see it; `view.config` already holds secrets masked. The
    message fields are filled in place: building sub-messages apart and copying them in costs
    nearly twice as much, for every integration a list returns."""
    message = integration_pb2.Integration(
        name=integration_name(view.id),
        sub_account_id=view.sub_account_id,
        template=template_name(view.template_name),
        display_name=view.name,
        description=view.description,
        is_active=view.is_active,
        state=STATES[view.status],
        secret_fields=sorted(view.secret_fields),
        error_code=view.error_code or "",
        error_message=view.error_message or "",
        creator=view.created_by_admin_id or "",
        etag=etag_of(view.version),
    )
    message.config.update(view.config)
    if view.last_sync_at is not None:
        set_moment(message.last_sync_time, view.last_sync_at)
    if view.last_tested_at is not None:
        set_moment(message.last_test_time, view.last_tested_at)
    set_moment(message.create_time, view.created_at)
    set_moment(message.update_time, view.updated_at)
    return message


def test_result_to_proto(
    result: ConnectionTestResult | None,
) -> integration_pb2.ConnectionTestResult | None:
    if result is None:
        return None
    latency = None
    if result.latency_ms is not None:
        latency = duration_pb2.Duration()
        latency.FromNanoseconds(round(result.latency_ms * 1_000_000))
    return integration_pb2.ConnectionTestResult(
        success=result.success,
        message=result.message,
        details=result.details,
        error_code=str(result.error_code or ""),
        latency=latency,
    )


# --- field masks (AIP-134) -------------------------------------------------------------------


def template_changes(
    template: integration_pb2.IntegrationTemplate, mask: field_mask_pb2.FieldMask
) -> dict[str, Any]:
    """The fields an UpdateIntegrationTemplate changes, by domain name. `*` names every
    updatable field; an absent mask names the fields set in the request."""
    paths = list(mask.paths)
    if not paths:
        paths = [f for f in TEMPLATE_UPDATABLE if _template_field_is_set(template, f)]
    elif paths == [_WILDCARD]:
        paths = list(TEMPLATE_UPDATABLE)
    bad = [p for p in paths if p not in TEMPLATE_UPDATABLE]
    if bad:
        raise _not_updatable(bad)
    return {path: _template_value(template, path) for path in paths}


def _template_field_is_set(template: integration_pb2.IntegrationTemplate, field: str) -> bool:
    if field == "config_schema":
        return template.HasField("config_schema")
    if field == "is_active":
        return template.HasField("is_active")
    return bool(getattr(template, field))


def _template_value(template: integration_pb2.IntegrationTemplate, field: str) -> Any:
    if field == "config_schema":
        return struct_to_dict(template.config_schema)
    return getattr(template, field)


def integration_update_mask(
    integration: integration_pb2.Integration, mask: field_mask_pb2.FieldMask
) -> tuple[str, ...]:
    """The UpdateIntegration mask in the use case's terms (`name`, `description`, `config`,
    `config.<field>`). `*` names every updatable field; an absent mask names the non-empty
    display_name and description, and each field present in `config`."""
    paths = list(mask.paths)
    if not paths:
        paths = [f for f in ("display_name", "description") if getattr(integration, f)]
        paths += [_CONFIG_PREFIX + key for key in sorted(integration.config.keys())]
    elif paths == [_WILDCARD]:
        paths = list(_INTEGRATION_UPDATABLE)
    bad = [
        p
        for p in paths
        if p not in _INTEGRATION_UPDATABLE
        and not (p.startswith(_CONFIG_PREFIX) and len(p) > len(_CONFIG_PREFIX))
    ]
    if bad:
        raise _not_updatable(bad)
    if not paths:
        raise invalid("update_mask", "names no field, and the request sets none")
    return tuple(_INTEGRATION_UPDATABLE.get(p, p) for p in paths)


def _not_updatable(paths: list[str]) -> InvalidArgumentError:
    return InvalidArgumentError(
        "update_mask names fields that cannot be updated",
        tuple(FieldViolation("update_mask", f"{p!r} is not updatable") for p in paths),
    )
