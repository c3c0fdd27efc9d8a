"""The contract check: every request the fake receives (and every answer it gives, where the spec
declares that status) is validated against GHL's own OpenAPI specs with openapi-core.

openapi-core is a dev dependency, imported only when a check is asked for. The specs are read
from a folder laid out as GHL's docs repository (``apps/<family>.json`` beside
``common/common-schemas.json``), so their relative ``$ref``s resolve.

Deliberate deviations from the specs, each for a documented reason (reference/ghl/API-NOTES.md):

- The specs are not valid OpenAPI 3.0 documents (their HTTP bearer schemes carry ``name`` and
  ``in``; some calendars schemas and conversations parameters do not validate), so they are
  loaded without openapi-spec-validator's document check. Requests and answers are still
  validated against every schema.
- ``SendMessageBodyDto.subType`` is typed ``object``, yet described as the "Type of message
  being sent" with the string ``"Email"`` as its example; a string is accepted. Its
  ``required`` (``[type, subType, contactId, status]`` since the 2026-05-01 spec, API-NOTES
  §3.4) is kept: a send without ``subType`` or ``status`` is refused, as GHL may now refuse it.
- ``SearchBodyV2DTO`` (``POST /contacts/search``) is an empty schema that accepts anything; we
  check the body documented by GHL's white-label mirror instead (API-NOTES §3.1.1), so a search
  without ``locationId`` or ``pageLimit`` fails here as it fails at GHL.
- Answers: ``BlockedSlotSuccessfulResponseDto`` and ``CalendarEventDTO`` type their times as
  ``object``, yet GHL sends ISO 8601 strings (the spec's own examples and every webhook do);
  strings are accepted there. ``PipelinesResponseSchema`` types each stage as an array (as it
  types an opportunity's notes and tasks, loosely), yet a stage must carry the id that
  opportunities name as ``pipelineStageId``: the fake sends ``{id, name, position}`` objects
  (an inference, not confirmed by GHL's docs) and they are accepted there. Statuses the spec does not declare for an operation (403, 404,
  429, 5xx, which GHL sends all the same) are not checked.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

if TYPE_CHECKING:
    from openapi_core import OpenAPI

GHL_SERVER = "https://services.leadconnectorhq.com"
_FAMILIES = ("contacts", "calendars", "conversations", "locations", "oauth", "opportunities")

_SEARCH_BODY_FROM_MIRROR: dict[str, Any] = {
    "type": "object",
    "required": ["locationId", "pageLimit"],
    "properties": {
        "locationId": {"type": "string"},
        "page": {"type": "number", "minimum": 1},
        "pageLimit": {"type": "number", "minimum": 1, "maximum": 500},
        "searchAfter": {"type": "array"},
        "filters": {"type": "array"},
        "sort": {"type": "array"},
        "query": {"type": "string", "maxLength": 75},
    },
    "not": {"required": ["page", "searchAfter"]},
}

_TIME_AS_STRING: dict[str, Any] = {"oneOf": [{"type": "string"}, {"type": "object"}]}


def _patch(family: str, spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    if family == "conversations":
        schemas["SendMessageBodyDto"]["properties"]["subType"] = {"type": "string"}
    elif family == "contacts":
        schemas["SearchBodyV2DTO"] = copy.deepcopy(_SEARCH_BODY_FROM_MIRROR)
    elif family == "opportunities":
        schemas["PipelinesResponseSchema"]["properties"]["stages"]["items"] = {
            "oneOf": [{"type": "array"}, {"type": "object"}]
        }
    elif family == "calendars":
        for name, fields in (
            ("BlockedSlotSuccessfulResponseDto", ("startTime", "endTime")),
            ("CalendarEventDTO", ("startTime", "endTime", "dateAdded", "dateUpdated")),
        ):
            for field in fields:
                schemas[name]["properties"][field] = dict(_TIME_AS_STRING)
    return spec


@dataclass(slots=True)
class _Request:
    """openapi-core's Request protocol over what the fake received, addressed to GHL's server
    (the fake stands in for it, so paths match the specs' ``servers``)."""

    parameters: Any
    method: str
    path: str
    body: bytes | None
    content_type: str
    host_url: str = GHL_SERVER


@dataclass(frozen=True, slots=True)
class _Response:
    status_code: int
    data: bytes | None
    headers: CIMultiDict[str]
    content_type: str = "application/json"


class ContractChecker:
    """Validates requests and answers against the spec of their path's family."""

    def __init__(self, specs_dir: Path) -> None:
        from openapi_core import Config, OpenAPI

        self._apis: dict[str, OpenAPI] = {}
        for family in _FAMILIES:
            path = (specs_dir / "apps" / f"{family}.json").resolve()
            spec = _patch(family, json.loads(path.read_text()))
            # None skips the document check (see above); openapi-core's annotation omits it.
            config = Config(spec_validator_cls=None)  # type: ignore[arg-type]
            self._apis[family] = OpenAPI.from_dict(spec, base_uri=path.as_uri(), config=config)

    def _request(self, request: web.Request, body: bytes) -> _Request:
        from openapi_core.datatypes import RequestParameters

        params = RequestParameters(
            query=MultiDictProxy(MultiDict(request.query)),
            header=CIMultiDictProxy(CIMultiDict(request.headers)),
            cookie=MultiDictProxy(MultiDict(request.cookies)),
        )
        return _Request(
            parameters=params,
            method=request.method.lower(),
            path=request.path,
            body=body or None,
            content_type=request.content_type,
        )

    def _api(self, path: str) -> OpenAPI | None:
        return self._apis.get(path.lstrip("/").split("/", 1)[0])

    def check_request(self, request: web.Request, body: bytes) -> list[str]:
        """Every reason GHL's spec rejects this request (empty when it conforms)."""
        api = self._api(request.path)
        if api is None:
            return [f"no GHL spec covers {request.method} {request.path}"]
        result = api.unmarshal_request(self._request(request, body))
        return [_describe(err) for err in result.errors]

    def check_response(
        self, request: web.Request, body: bytes, status: int, answer: bytes | None
    ) -> list[str]:
        """Every way the fake's answer departs from the spec, for statuses the spec declares."""
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        api = self._api(request.path)
        if api is None:
            return []
        response = _Response(status_code=status, data=answer, headers=CIMultiDict())
        result = api.unmarshal_response(self._request(request, body), response)
        return [_describe(err) for err in result.errors if not isinstance(err, ResponseNotFound)]


def _describe(err: BaseException) -> str:
    details = getattr(err.__cause__, "schema_errors", None) or ()
    reasons = "; ".join(getattr(e, "message", str(e)) for e in details)
    return f"{err}: {reasons}" if reasons else str(err)
