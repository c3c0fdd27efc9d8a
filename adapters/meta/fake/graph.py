"""The Graph API routes the fake serves (API-NOTES §2, §5, §8): debug_token, /me, a page's
subscribed_apps, a lead (or page, or form) by id, and a form's leads, paged."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from adapters.meta.fake.conversions import post_events
from adapters.meta.fake.core import FAKE_META, GRANT, FakeMeta
from adapters.meta.fake.errors import (
    GraphError,
    Json,
    death_message,
    invalid_parameter,
    not_found,
    permission_error,
)
from adapters.meta.fake.params import PARAMS, fields_of
from adapters.meta.fake.state import PAGE_SCOPES, TokenGrant, unix_time

# Any ``vNN.N`` prefix is served; the middleware records which one the client used.
VERSION = r"{version:v\d+\.\d+}"

LEAD_FIELDS = frozenset(
    {
        "id", "created_time", "ad_id", "ad_name", "adset_id", "adset_name", "campaign_id",
        "campaign_name", "form_id", "is_organic", "platform", "field_data", "partner_name",
        "custom_disclaimer_responses", "post", "retailer_item_id", "home_listing", "vehicle",
    }
)  # fmt: skip
_PAGE_FIELDS = frozenset({"id", "name"})
_FORM_FIELDS = frozenset({"id", "name"})
_DEFAULT_LIMIT = 25
_FILTER_OPERATORS = {
    "GREATER_THAN": lambda t, v: t > v,
    "GREATER_THAN_OR_EQUAL": lambda t, v: t >= v,
    "LESS_THAN": lambda t, v: t < v,
    "LESS_THAN_OR_EQUAL": lambda t, v: t <= v,
}


def _fake(request: web.Request) -> FakeMeta:
    return request.app[FAKE_META]


def _select(obj: Json, requested: list[str] | None, known: frozenset[str], node: str) -> Json:
    """The requested fields that the object has (Graph omits absent ones), id always; with no
    ``fields`` the whole object (the fake's choice: Graph's default set is not in the notes)."""
    if requested is None:
        return {k: v for k, v in obj.items() if k in known}
    for name in requested:
        if name not in known:
            raise invalid_parameter(
                f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})"
            )
    return {"id": obj["id"], **{k: obj[k] for k in requested if k in obj and k != "id"}}


# --- debug_token -------------------------------------------------------------------------------


async def debug_token(request: web.Request) -> web.Response:
    """200 with the verdict inside ``data``, whatever the inspected token."""
    fake = _fake(request)
    token = request[PARAMS].get("input_token")
    if not isinstance(token, str) or not token:
        raise invalid_parameter("(#100) The parameter input_token is required")
    grant = fake.state.grant_for(token)
    if grant is None:
        data: Json = {
            "error": {"code": 190, "message": death_message(None)},
            "is_valid": False,
            "scopes": [],
        }
    else:
        data = _token_data(fake, grant)
    return web.json_response({"data": data})


def _token_data(fake: FakeMeta, grant: TokenGrant) -> Json:
    dead, subcode = grant.death(fake.state.now())
    same_app = grant.app_id == fake.state.app_id
    data: Json = {
        "app_id": grant.app_id,
        "type": grant.kind,
        "application": fake.state.app_name if same_app else "Another app",
    }
    if grant.kind == "APP":
        return {**data, "is_valid": True, "scopes": []}
    if dead:
        data.update(
            expires_at=grant.expires_at,
            is_valid=False,
            error={"code": 190, "message": death_message(subcode), "subcode": subcode},
            scopes=[],
        )
        if subcode is None:
            del data["error"]["subcode"]
    else:
        data.update(
            data_access_expires_at=grant.data_access_expires_at,
            expires_at=grant.expires_at,
            is_valid=True,
            issued_at=grant.issued_at,
        )
        if grant.kind == "PAGE" and grant.page_ids:
            data["profile_id"] = grant.page_ids[0]
        data["scopes"] = list(grant.scopes)
        data["granular_scopes"] = [
            {"scope": s, "target_ids": list(grant.page_ids)} if s in PAGE_SCOPES else {"scope": s}
            for s in grant.scopes
            if s != "public_profile"
        ]
    if grant.user_id is not None:
        data["user_id"] = grant.user_id
    return data


# --- /me ---------------------------------------------------------------------------------------


async def me(request: web.Request) -> web.Response:
    """A page token answers as its page; a (system) user token as the user."""
    fake, grant = _fake(request), request[GRANT]
    if grant.kind == "APP":
        raise GraphError(
            2500, "An active access token must be used to query information about the current user."
        )
    if grant.kind == "PAGE" and grant.page_ids and grant.page_ids[0] in fake.state.pages:
        page = fake.state.pages[grant.page_ids[0]]
        node: Json = {"id": page["id"], "name": page["name"]}
    else:
        node = {"id": grant.user_id or "", "name": grant.name or "Fake user"}
    return web.json_response(_select(node, fields_of(request[PARAMS]), _PAGE_FIELDS, "User"))


# --- subscribed_apps ---------------------------------------------------------------------------


def _reachable_page(request: web.Request, method: str) -> Json:
    fake, page_id = _fake(request), request.match_info["page_id"]
    page = fake.state.pages.get(page_id)
    if page is None or not request[GRANT].reaches(page_id):
        raise not_found(page_id, method)
    return page


async def get_subscribed_apps(request: web.Request) -> web.Response:
    fake, page = _fake(request), _reachable_page(request, "get")
    data = []
    if page["subscribed_fields"]:
        data.append(
            {
                "category": fake.state.app_category,
                "link": fake.state.app_link,
                "name": fake.state.app_name,
                "id": fake.state.app_id,
                "subscribed_fields": list(page["subscribed_fields"]),
            }
        )
    return web.json_response({"data": data})


async def post_subscribed_apps(request: web.Request) -> web.Response:
    """``subscribed_fields=leadgen`` (comma-separated or a JSON list) with a page's token. The
    list replaces the app's fields on the page (as Graph's Page subscribed_apps edge sets them;
    the notes do not say), so a client sends every field it wants."""
    page = _reachable_page(request, "post")
    if "pages_manage_metadata" not in request[GRANT].scopes:
        raise permission_error("pages_manage_metadata")
    fields = _field_list(request[PARAMS].get("subscribed_fields"))
    if not fields:
        raise invalid_parameter("(#100) The parameter subscribed_fields is required")
    page["subscribed_fields"] = list(dict.fromkeys(fields))
    return web.json_response({"success": True})


async def delete_subscribed_apps(request: web.Request) -> web.Response:
    page = _reachable_page(request, "delete")
    if "pages_manage_metadata" not in request[GRANT].scopes:
        raise permission_error("pages_manage_metadata")
    page["subscribed_fields"] = []
    return web.json_response({"success": True})


def _field_list(raw: Any) -> list[str]:
    if isinstance(raw, str) and raw.strip().startswith("["):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    if isinstance(raw, str):
        return [f.strip() for f in raw.split(",") if f.strip()]
    if isinstance(raw, list):
        return [str(f) for f in raw if str(f)]
    return []


# --- objects: a lead, a page, a form -----------------------------------------------------------


async def get_object(request: web.Request) -> web.Response:
    """A lead needs ``leads_retrieval`` on its page; an unknown id, or one the token may not
    read, is 100 / 33 (examples/error-100-lead-not-found.json)."""
    fake, grant = _fake(request), request[GRANT]
    object_id = request.match_info["object_id"]
    requested = fields_of(request[PARAMS])
    lead = fake.state.leads.get(object_id)
    if lead is not None:
        page_id = fake.state.page_of_lead(lead)
        if page_id is None or not grant.reaches(page_id) or "leads_retrieval" not in grant.scopes:
            raise not_found(object_id)
        return web.json_response(_select(lead, requested, LEAD_FIELDS, "Lead"))
    page = fake.state.pages.get(object_id)
    if page is not None and grant.reaches(object_id):
        return web.json_response(_select(page, requested, _PAGE_FIELDS, "Page"))
    form = fake.state.forms.get(object_id)
    if form is not None and grant.reaches(form["page_id"]):
        return web.json_response(_select(form, requested, _FORM_FIELDS, "LeadgenForm"))
    raise not_found(object_id)


async def leadgen_forms(request: web.Request) -> web.Response:
    """``GET /{page_id}/leadgen_forms``: the page's forms (Graph's Page edge; not in the notes,
    served so that a backfill can find the forms of a page), ``{"data": [{id, name}]}``."""
    fake = _fake(request)
    page = _reachable_page(request, "get")
    requested = fields_of(request[PARAMS])
    forms = [f for f in fake.state.forms.values() if f["page_id"] == page["id"]]
    return web.json_response(
        {"data": [_select(f, requested, _FORM_FIELDS, "LeadgenForm") for f in forms]}
    )


async def form_leads(request: web.Request) -> web.Response:
    """``GET /{form_id}/leads``: newest first, ``limit`` (default 25), cursor ``after``,
    ``filtering=[{"field": "time_created", "operator": "GREATER_THAN", "value": unix}]``."""
    fake, grant, params = _fake(request), request[GRANT], request[PARAMS]
    form_id = request.match_info["form_id"]
    page_id = fake.state.page_of_form(form_id)
    if page_id is None or not grant.reaches(page_id) or "leads_retrieval" not in grant.scopes:
        raise not_found(form_id)
    leads = [lead for lead in fake.state.leads_of_form(form_id) if _passes(lead, params)]
    after = params.get("after")
    if after:
        ids = [lead["id"] for lead in leads]
        position = decode_cursor(after)
        if position not in ids:
            raise invalid_parameter("(#100) The after cursor is not valid")
        leads = leads[ids.index(position) + 1 :]
    limit = _limit(params.get("limit"))
    page, more = leads[:limit], len(leads) > limit
    requested = fields_of(params)
    body: Json = {"data": [_select(lead, requested, LEAD_FIELDS, "Lead") for lead in page]}
    if page:
        paging: Json = {
            "cursors": {"before": cursor(page[0]["id"]), "after": cursor(page[-1]["id"])}
        }
        if more:
            paging["next"] = str(request.url.update_query(after=cursor(page[-1]["id"])))
        body["paging"] = paging
    return web.json_response(body)


def _limit(raw: Any) -> int:
    if raw is None:
        return _DEFAULT_LIMIT
    try:
        limit = int(raw)
    except (TypeError, ValueError) as err:
        raise invalid_parameter("(#100) limit must be a positive integer") from err
    if limit <= 0:
        raise invalid_parameter("(#100) limit must be a positive integer")
    return limit


def _passes(lead: Json, params: Json) -> bool:
    raw = params.get("filtering")
    if raw is None:
        return True
    try:
        rules = json.loads(raw) if isinstance(raw, str) else raw
        created = unix_time(lead["created_time"])
        return all(
            _FILTER_OPERATORS[rule["operator"]](created, int(rule["value"]))
            for rule in rules
            if _is_time_created(rule)
        )
    except (ValueError, KeyError, TypeError) as err:
        raise invalid_parameter(
            "(#100) filtering must be a list of {field: time_created, operator, value}"
        ) from err


def _is_time_created(rule: Any) -> bool:
    if not isinstance(rule, dict) or rule.get("field") != "time_created":
        raise ValueError("only time_created can be filtered on")
    return True


def cursor(object_id: str) -> str:
    return base64.urlsafe_b64encode(object_id.encode()).decode().rstrip("=")


def decode_cursor(value: Any) -> str:
    try:
        text = str(value)
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, binascii.Error) as err:
        raise invalid_parameter("(#100) The after cursor is not valid") from err


def add_graph_routes(app: web.Application) -> None:
    """The routes, most specific first (``/{id}`` would match ``debug_token`` otherwise)."""
    r = app.router
    r.add_resource(f"/{VERSION}/debug_token", name="debug_token").add_route("GET", debug_token)
    r.add_resource(f"/{VERSION}/me", name="me").add_route("GET", me)
    subscribed = r.add_resource(
        f"/{VERSION}/{{page_id:\\d+}}/subscribed_apps", name="subscribed_apps"
    )
    subscribed.add_route("GET", get_subscribed_apps)
    subscribed.add_route("POST", post_subscribed_apps)
    subscribed.add_route("DELETE", delete_subscribed_apps)
    r.add_resource(f"/{VERSION}/{{page_id:\\d+}}/leadgen_forms", name="leadgen_forms").add_route(
        "GET", leadgen_forms
    )
    r.add_resource(f"/{VERSION}/{{form_id:\\d+}}/leads", name="form_leads").add_route(
        "GET", form_leads
    )
    r.add_resource(f"/{VERSION}/{{dataset_id:\\d+}}/events", name="events").add_route(
        "POST", post_events
    )
    r.add_resource(f"/{VERSION}/{{object_id:\\d+}}", name="object").add_route("GET", get_object)
