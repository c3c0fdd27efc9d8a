"""The Integration aggregate and its status machine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import ErrorCode, InvalidArgumentError, InvalidTransitionError
from domain.events import (
    IntegrationActivated,
    IntegrationConfigChanged,
    IntegrationCreated,
    IntegrationDeleted,
    IntegrationDisconnected,
    IntegrationFailed,
    IntegrationReset,
)
from domain.integration import TRANSITIONS, Integration, IntegrationStatus
from domain.values import EncryptedSecret

NOW = datetime(2026, 1, 1, tzinfo=UTC)
S = IntegrationStatus


def make(status: IntegrationStatus = S.PENDING, *, is_active: bool = True) -> Integration:
    integration = Integration.create(
        id="i-1",
        sub_account_id="sa-1",
        template_id="t-1",
        template_name="gohighlevel",
        name="Main CRM",
        config={"locationId": "loc"},
        secrets={"apiKey": EncryptedSecret("v1.k.x", "abcd")},
        now=NOW,
    )
    integration.pull_events()
    integration.status = status
    integration.is_active = is_active
    return integration


def move(integration: Integration, target: IntegrationStatus) -> None:
    if target is S.ACTIVE:
        integration.activate(now=NOW)
    elif target is S.ERROR:
        integration.fail(code=ErrorCode.INVALID_CREDENTIALS, message="bad key", now=NOW)
    elif target is S.DISCONNECTED:
        integration.disconnect(reason="uninstalled", now=NOW)
    else:
        integration.reactivate(now=NOW)


ALLOWED = [(a, b) for a in S for b in TRANSITIONS[a]]
# Pending is reached only through reactivate/change_config, tested on their own below.
REFUSED = [
    (a, b) for a in S for b in S if b not in TRANSITIONS[a] and a is not b and b is not S.PENDING
]


def test_a_new_integration_is_pending_active_and_records_its_creation() -> None:
    integration = Integration.create(
        id="i-1",
        sub_account_id="sa-1",
        template_id="t-1",
        template_name="gohighlevel",
        name="Main CRM",
        now=NOW,
    )
    assert integration.status is S.PENDING
    assert integration.is_active
    assert integration.version == 1
    [event] = integration.pull_events()
    assert isinstance(event, IntegrationCreated)
    assert (event.aggregate_id, event.aggregate_version, event.sub_account_id) == ("i-1", 1, "sa-1")
    assert integration.pull_events() == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_an_integration_needs_a_sensible_name(name: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        Integration.create(
            id="i", sub_account_id="sa", template_id="t", template_name="g", name=name, now=NOW
        )
    assert caught.value.violations[0].field == "name"


@pytest.mark.parametrize(("source", "target"), [p for p in ALLOWED if p[1] is not S.PENDING])
def test_every_allowed_transition_changes_the_status_and_records_one_event(
    source: IntegrationStatus, target: IntegrationStatus
) -> None:
    integration = make(source)
    move(integration, target)
    assert integration.status is target
    events = integration.pull_events()
    assert len(events) == 1
    expected = {S.ACTIVE: IntegrationActivated, S.ERROR: IntegrationFailed}.get(
        target, IntegrationDisconnected
    )
    assert isinstance(events[0], expected)
    assert events[0].aggregate_version == 2


def test_disconnected_returns_to_pending_when_the_admin_reactivates_it() -> None:
    integration = make(S.DISCONNECTED, is_active=False)
    integration.reactivate(now=NOW)
    assert (integration.status, integration.is_active) == (S.PENDING, True)
    [event] = integration.pull_events()
    assert isinstance(event, IntegrationReset)
    assert (event.previous_status, event.reason) == ("disconnected", "reactivated")


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_every_refused_transition_raises_and_changes_nothing(
    source: IntegrationStatus, target: IntegrationStatus
) -> None:
    integration = make(source)
    with pytest.raises(InvalidTransitionError):
        move(integration, target)
    assert integration.status is source
    assert integration.pull_events() == []


@pytest.mark.parametrize("source", [S.ACTIVE, S.ERROR, S.PENDING])
def test_reactivating_a_switched_on_connected_integration_changes_nothing(
    source: IntegrationStatus,
) -> None:
    integration = make(source)
    integration.reactivate(now=NOW)
    assert integration.status is source
    assert integration.pull_events() == []


def test_a_failure_records_the_error_and_a_success_clears_it() -> None:
    integration = make(S.PENDING)
    integration.fail(code=ErrorCode.CONNECTION_FAILED, message="timeout", now=NOW)
    assert (integration.error_code, integration.error_message) == ("CONNECTION_FAILED", "timeout")
    integration.fail(code=ErrorCode.INVALID_CREDENTIALS, message="401", now=NOW)
    assert integration.error_code == "INVALID_CREDENTIALS"
    integration.activate(now=NOW)
    assert (integration.status, integration.error_code, integration.error_message) == (
        S.ACTIVE,
        None,
        None,
    )
    assert integration.last_tested_at == NOW


def test_activating_an_active_integration_records_no_event() -> None:
    integration = make(S.ACTIVE)
    integration.activate(now=NOW)
    assert integration.pull_events() == []


def test_deactivating_switches_it_off_disconnects_it_and_is_idempotent() -> None:
    integration = make(S.ACTIVE)
    integration.deactivate(now=NOW)
    integration.deactivate(now=NOW)
    assert (integration.status, integration.is_active) == (S.DISCONNECTED, False)
    [event] = integration.pull_events()
    assert isinstance(event, IntegrationDisconnected)
    assert event.reason == "deactivated"


def test_new_credentials_return_a_disconnected_integration_to_pending() -> None:
    integration = make(S.DISCONNECTED)
    integration.change_config(
        config={"locationId": "loc"},
        secrets={"apiKey": EncryptedSecret("v1.k.y", "wxyz")},
        credentials_changed=True,
        now=NOW,
    )
    assert integration.status is S.PENDING
    kinds = [type(e) for e in integration.pull_events()]
    assert kinds == [IntegrationConfigChanged, IntegrationReset]


def test_new_credentials_leave_a_switched_off_integration_disconnected() -> None:
    integration = make(S.DISCONNECTED, is_active=False)
    integration.change_config(
        config={"locationId": "other"}, secrets={}, credentials_changed=True, now=NOW
    )
    assert integration.status is S.DISCONNECTED


def test_a_config_change_names_the_changed_fields_and_an_unchanged_one_records_nothing() -> None:
    integration = make(S.ACTIVE)
    integration.change_config(
        config={"locationId": "loc"},
        secrets=dict(integration.secrets),
        credentials_changed=False,
        now=NOW,
    )
    assert integration.pull_events() == []
    integration.change_config(
        config={"locationId": "loc2", "calendarId": "c"},
        secrets={},
        credentials_changed=True,
        now=NOW,
    )
    [event] = integration.pull_events()
    assert isinstance(event, IntegrationConfigChanged)
    assert event.changed_fields == ("config.apiKey", "config.calendarId", "config.locationId")
    assert integration.status is S.ACTIVE


def test_editing_the_name_records_a_change_and_deleting_records_a_deletion() -> None:
    integration = make(S.ACTIVE)
    integration.edit(name="Renamed", now=NOW)
    integration.mark_deleted(now=NOW)
    kinds = [type(e) for e in integration.pull_events()]
    assert kinds == [IntegrationConfigChanged, IntegrationDeleted]
    assert integration.name == "Renamed"


def test_only_switched_on_active_or_erroring_integrations_are_operational() -> None:
    assert make(S.ACTIVE).is_operational
    assert make(S.ERROR).is_operational
    assert not make(S.PENDING).is_operational
    assert not make(S.DISCONNECTED).is_operational
    assert not make(S.ACTIVE, is_active=False).is_operational


def test_replacing_an_unknown_secret_is_refused() -> None:
    integration = make(S.ACTIVE)
    with pytest.raises(InvalidArgumentError):
        integration.replace_secret("nope", EncryptedSecret("t"), now=NOW)
    integration.replace_secret("apiKey", EncryptedSecret("v1.k2.z", "9999"), now=NOW)
    assert integration.secrets["apiKey"].key_id == "k2"
    assert integration.pull_events() == []
