"""The connect flow's rules on what Facebook Login gave: which permissions are missing, and
which of the person's Pages may be connected."""

from __future__ import annotations

from adapters.meta.connect import leads_pages, missing_permissions
from adapters.meta.graph import ManagedPage
from adapters.meta.provider import REQUIRED_SCOPES
from domain.values import SecretStr


def page(page_id: str, tasks: frozenset[str] | None = None) -> ManagedPage:
    return ManagedPage(page_id, f"Page {page_id}", SecretStr(f"token-{page_id}"), tasks)


def test_every_required_permission_granted_misses_none() -> None:
    answered = {scope: "granted" for scope in REQUIRED_SCOPES} | {"email": "declined"}

    assert missing_permissions(answered) == ()


def test_declined_expired_and_unanswered_permissions_are_missing_in_the_required_order() -> None:
    answered = {scope: "granted" for scope in REQUIRED_SCOPES}
    answered |= {"ads_management": "declined", "pages_show_list": "expired"}
    del answered["leads_retrieval"]

    assert missing_permissions(answered) == (
        "leads_retrieval",
        "pages_show_list",
        "ads_management",
    )


def test_only_pages_the_person_may_advertise_on_are_kept_once_each() -> None:
    pages = [
        page("1", frozenset({"ADVERTISE", "MANAGE"})),
        page("2", frozenset({"ANALYZE"})),
        page("3"),  # Meta named no tasks: kept
        page("1", frozenset({"ADVERTISE"})),
    ]

    assert [p.id for p in leads_pages(pages)] == ["1", "3"]
