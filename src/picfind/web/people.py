"""The page's people: the strip of faces with names and counts, naming, hiding and merging from
the page, the faces' crops, and person filters from the address (`person=Anna`, repeated).
Changes come as small JSON POSTs; other sites' requests never reach them (`picfind.web.gates`)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from picfind.filters import PEOPLE_MODES, Filter
from picfind.library import Library
from picfind.records import printable
from picfind.web.service import ApiError, Service

BODY_MAX = 4096  # a change's JSON body: a name and a flag or two
PERSONS_MAX = 16  # people in one filter


def people_options(request: Request) -> dict:
    """The people a search asks for (names or ids) and how to match them, checked."""
    people = [p for p in request.query_params.getlist("person") if p.strip()]
    mode = request.query_params.get("people_mode") or "all"
    if len(people) > PERSONS_MAX:
        raise ApiError(400, f"at most {PERSONS_MAX} people in one search")
    if mode not in PEOPLE_MODES:
        raise ApiError(400, "people_mode must be all, any or only")
    return {"people": people, "people_mode": mode}


def narrowed(lib: Library, where: Filter, o: dict) -> Filter:
    """The filter with the people asked for (by name or id) made person ids."""
    return lib.with_people(where, o["people"], o["people_mode"]) if o["people"] else where


def _person(p: dict) -> dict:
    return {**printable(p), "thumb": f"/face/{p['face']}" if p.get("face") is not None else None}


async def _json(request: Request) -> dict:
    """A small JSON object from the request body (at most BODY_MAX bytes)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_MAX:
            raise ApiError(413, f"the body is larger than {BODY_MAX} bytes")
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, "the body must be a JSON object, e.g. {\"name\": \"Anna\"}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be a JSON object, e.g. {\"name\": \"Anna\"}")
    return value


def people_routes(service: Service) -> list[Route]:
    async def api_people(request: Request) -> Response:
        hidden = request.query_params.get("hidden", "") in ("1", "true")
        people = await service.light(lambda lib: lib.people(hidden))
        return JSONResponse({"people": [_person(p) for p in people]}, headers={"Cache-Control": "no-store"})

    async def api_person(request: Request) -> Response:
        """Name or hide a person: {"name": "Anna"}, {"hidden": true}."""
        body = await _json(request)
        pid = request.path_params["id"]
        if not {"name", "hidden"} & body.keys():
            raise ApiError(400, "say what changes: {\"name\": \"Anna\"} or {\"hidden\": true}")

        def change(lib: Library) -> dict:
            if "name" in body:
                lib.name_person(pid, str(body["name"]))
            if "hidden" in body:
                lib.hide_person(pid, bool(body["hidden"]))
            return lib.person(pid)
        return JSONResponse(_person(await service.light(change)))

    async def api_merge(request: Request) -> Response:
        """Two people made one: {"into": 3, "other": 7} (7's faces become 3's)."""
        body = await _json(request)
        into, other = body.get("into"), body.get("other")
        if not (isinstance(into, int | str) and isinstance(other, int | str)):
            raise ApiError(400, "name the two people: {\"into\": 3, \"other\": 7}")
        return JSONResponse(_person(await service.light(lambda lib: lib.merge_people(into, other))))

    async def face(request: Request) -> Response:
        data = await service.light(lambda lib: lib.face_thumb(request.path_params["id"]))
        if data is None:
            raise ApiError(404, "no such face")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300",
                                                                 "Cross-Origin-Resource-Policy": "same-origin"})

    return [Route("/api/people", api_people),
            Route("/api/people/merge", api_merge, methods=["POST"]),
            Route("/api/people/{id:int}", api_person, methods=["POST"]),
            Route("/face/{id:int}", face)]
