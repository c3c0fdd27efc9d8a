"""A Graph request's parameters: the query string merged with a form or JSON body, as Graph
takes ``access_token``, ``fields`` or ``data`` from either."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from adapters.meta.fake.errors import GraphError, Json

PARAMS = web.RequestKey("fake_meta_params", dict)
TRACE_ID = web.RequestKey("fake_meta_trace_id", str)


async def read_params(request: web.Request) -> Json:
    params: Json = dict(request.query)
    raw = await request.read()
    if raw and request.content_type == "application/json":
        try:
            body: Any = json.loads(raw)
        except ValueError as err:
            raise GraphError(100, "(#100) The request body is not valid JSON") from err
        if not isinstance(body, dict):
            raise GraphError(100, "(#100) The request body must be a JSON object")
        params.update(body)
    elif raw:
        params.update(await request.post())
    return params


def token_of(request: web.Request, params: Json) -> str:
    """``access_token`` (query or body), else ``Authorization: Bearer``."""
    token = params.get("access_token")
    if isinstance(token, str) and token:
        return token
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    return bearer if scheme.lower() == "bearer" else ""


def fields_of(params: Json) -> list[str] | None:
    """The top-level names of ``fields`` (``field_data{name,values}`` counts as field_data)."""
    raw = params.get("fields")
    if not isinstance(raw, str) or not raw.strip():
        return None
    names, depth, current = [], 0, ""
    for char in raw:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(current.strip())
            current = ""
        elif depth == 0:
            current += char
    names.append(current.strip())
    return [n for n in names if n]
