"""`picfind serve`: a local web page over the catalog, and its JSON API (Starlette on uvicorn).

Safety: it binds to 127.0.0.1 unless told otherwise, and then only with a token that every
request must carry. Without a token it answers only to its own host names (a page elsewhere that
re-points its DNS name at 127.0.0.1 gets 403), and every route but the page refuses other sites'
requests (`picfind.web.gates`).
Pictures are served by catalog id only, and only while the file is still the one indexed
(`Library.open_image`); no path from a request is ever read. A picture whose format the browser
cannot show (camera RAW, TIFF; HEIC and JPEG XL unless its Accept header names them) is sent as
a JPEG rendition, made a few at a time on the decoding threads the uploads use. Uploaded images (search by example)
are read in memory, capped in size and pixels, decoded a few at a time off the search thread
(more at once get 503, their bodies read and dropped), never written to disk.

Library work runs on two worker threads (`picfind.web.service`): searches on one, pictures,
file entries and status on the other, so a heavy search holds none of them up (SQLite
connections belong to one thread, and the encoder is already multi-threaded); sending the
files happens on the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sqlite3
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from picfind.errors import explain
from picfind.filters import Filter
from picfind.library import Library
from picfind.media.timecode import parse_time
from picfind.records import CatalogError, printable
from picfind.search.dupes import DEFAULT_THRESHOLD, check_threshold
from picfind.search.query import MAX_QUERY_CHARS
from picfind.search.query import split as split_query
from picfind.search.ranking import Hits
from picfind.web.gates import LOOPBACK_NAMES, HostGate, TokenGate, cookie_name
from picfind.web.people import narrowed, people_options, people_routes
from picfind.web.ranges import FileSpan, ranged, shows, video_type
from picfind.web.service import ApiError, Service
from picfind.web.watching import Watching

PAGE_MAX = 500  # results per request
RESULTS_MAX = 20_000  # how deep "more results" may scroll
DATE_POOL = 1000  # sort=date orders this many best matches newest first (min_score narrows them)
SAME_ORIGIN = {"Cross-Origin-Resource-Policy": "same-origin"}  # no other site's page may embed a picture
CACHE_SECONDS = 7 * 24 * 3600  # thumbnails are named by content, so they never go stale


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return value


def _score(name: str, text: str) -> float:
    """A cosine score from the query string: a number from -1 to 1 (not nan or inf, which the
    CLI refuses too, and which silently matched nothing)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -1 <= value <= 1:
        raise ApiError(400, f"{name} must be a number between -1 and 1, not {text!r}")
    return value


def _seconds(text: str) -> float:
    """A video's moment from the query string: finite seconds (or m:ss), else 400."""
    try:
        return parse_time(text)
    except ValueError as e:
        raise ApiError(400, f"t: {e}") from None


def _options(request: Request) -> dict:
    """Paging, filters and sort from the query string, checked."""
    q = request.query_params
    min_score = q.get("min_score")
    try:
        where = Filter.of(q.getlist("in"), q.get("after") or None, q.get("before") or None, q.get("ext") or None,
                          _int(request, "min_width", 0, 0, 10**6) or None,
                          _int(request, "min_height", 0, 0, 10**6) or None, q.get("place") or None,
                          q.get("near") or None, q.get("kind") or None, local=False)
        score = _score("min_score", min_score) if min_score else None
    except ValueError as e:
        raise ApiError(400, str(e)) from None
    sort = q.get("sort", "score")
    if sort not in ("score", "date"):
        raise ApiError(400, "sort must be score or date")
    return {"n": _int(request, "n", 60, 1, PAGE_MAX), "offset": _int(request, "offset", 0, 0, RESULTS_MAX),
            "min_score": score, "where": where, "sort": sort, **people_options(request)}


def _page(hits: Hits, offset: int, n: int) -> dict:
    """`hits`: the page asked for and one more, to tell whether there is more; `missing`: one line
    when results are on a drive not connected."""
    note = hits.note()
    return {"results": [_row(h.as_dict()) for h in hits[:n]], "offset": offset, "more": len(hits) > n,
            **({"missing": printable(note)} if note else {})}


def _paging(o: dict) -> dict:
    """Library keywords for one page, and one result more. Sorted by date, every page orders the
    same best DATE_POOL matches, so pages partition one ordering."""
    return {"offset": o["offset"], "pool": DATE_POOL if o["sort"] == "date" else None}


def _row(item: dict) -> dict:
    """A result or a duplicate-group member as JSON: printable paths, and where its pictures are
    (a video: its moment's frame, and the video to play)."""
    row = {**printable(item), "thumb": f"/thumb/{item['id']}", "image": f"/image/{item['id']}"}
    if item.get("kind") == "video":
        row["video"] = f"/video/{item['id']}"
        if item.get("time") is not None:
            row["thumb"] += f"?t={item['time']:g}"
    if item.get("motion"):  # a Live Photo's still: the page plays its motion
        row["motion_video"] = f"/motion/{item['id']}"
    return row


def create_app(db: Path | str, model: str | None = None, token: str | None = None,
               host: str = "127.0.0.1", watch: bool = False, text_model: str | None = None) -> Starlette:
    """The app; `host` is the address it listens on, one of the names it answers to; `watch`:
    keep the catalog current meanwhile (`picfind serve --watch`); `text_model`: `--text-model`."""
    service = Service(db, model, text_model)
    if watch:
        service.watcher = Watching(db, model)
    files = resources.files("picfind").joinpath("web")
    html = files.joinpath("index.html").read_text(encoding="utf-8")
    spec = files.joinpath("openapi.json").read_text(encoding="utf-8")
    policy = _page_policy(html)

    async def page(request: Request) -> Response:
        response = HTMLResponse(html, headers={"Cache-Control": "no-cache", "Content-Security-Policy": policy})
        if token:  # the page's own requests (images included) then carry the token as a cookie
            response.set_cookie(cookie_name(request), token, httponly=True, samesite="strict")
        return response

    async def api_search(request: Request) -> Response:
        query = request.query_params.get("q", "")
        if len(query) > MAX_QUERY_CHARS:  # before it is split: the parse checks the terms too
            raise ApiError(400, f"the query is {len(query):,} characters long; the most is {MAX_QUERY_CHARS:,}")
        o = _options(request)
        ocr_only = request.query_params.get("ocr_only", "") in ("1", "true")
        def find(lib: Library) -> tuple[Hits, dict, str | None]:
            where = narrowed(lib, o["where"], o)
            terms = split_query(query)
            hint = lib.language_hint(terms, files=False) if o["offset"] == 0 else None  # with the first page only
            return (lib.search(terms, o["n"] + 1, o["min_score"], where, o["sort"], **_paging(o), files=False,
                               ocr_only=ocr_only), lib.understood(terms, where, files=False), hint)
        hits, understood, hint = await service.call(find)
        return JSONResponse({"query": query, "understood": printable(understood), **_page(hits, o["offset"], o["n"]),
                             **({"hint": hint} if hint else {})})

    async def api_similar(request: Request) -> Response:
        o = _options(request)
        k = o["n"] + 1
        if request.method == "POST":
            example = await service.decode(request)
            hits = await service.call(lambda lib: lib.similar(example, k, o["min_score"], narrowed(lib, o["where"], o),
                                                               o["sort"], **_paging(o)))
        else:
            file_id = _int(request, "id", -1, 0, 2**62)
            if file_id < 0:
                raise ApiError(400, "id is required: a picture's id from a search result")
            at = request.query_params.get("t") or None  # a video's moment, in seconds
            if at is not None:
                _seconds(at)
            hits = await service.call(lambda lib: lib.similar(file_id, k, o["min_score"], narrowed(lib, o["where"], o),
                                                               o["sort"], **_paging(o), at=at))
        return JSONResponse(_page(hits, o["offset"], o["n"]))

    async def api_dupes(request: Request) -> Response:
        near = request.query_params.get("near", "") not in ("", "0", "false")
        threshold = _score("threshold", request.query_params.get("threshold") or str(DEFAULT_THRESHOLD))
        if near:
            check_threshold(threshold)  # before any work: a ValueError is a 400

        def find(lib: Library) -> list:
            return [g.as_dict() for g in lib.dupes(near, threshold)]
        groups = await service.call(find)
        for g in groups:
            g["members"] = [_row(m) for m in g["members"]]
        return JSONResponse({"groups": groups, "wasted_bytes": sum(g["wasted_bytes"] for g in groups)})

    async def api_status(request: Request) -> Response:
        status = await service.light(lambda lib: lib.status())
        return JSONResponse({**status, "watch": service.watching})

    async def api_watch(request: Request) -> Response:
        return JSONResponse(service.watching, headers={"Cache-Control": "no-store"})

    async def api_file(request: Request) -> Response:
        found = await service.light(lambda lib: lib.file(request.path_params["id"]))
        if found is None:
            raise ApiError(404, "no such picture")
        return JSONResponse({"id": request.path_params["id"], "path": printable(found["path"])})

    async def thumb(request: Request) -> Response:
        at = request.query_params.get("t")
        second = _seconds(at) if at else None
        data = await service.light(lambda lib: lib.thumbnail(request.path_params["id"], second))
        if data is None:
            raise HTTPException(404)
        return Response(data, media_type="image/jpeg",
                        headers={"Cache-Control": f"private, max-age={CACHE_SECONDS}, immutable", **SAME_ORIGIN})

    async def indexed(request: Request, video: bool) -> tuple[BinaryIO, str]:
        """The indexed file a request names by id, and its path: what the catalog says of it is
        asked on the library thread, the file opened (hashed if touched) on another."""
        file_id = request.path_params["id"]
        claim = await service.light(lambda lib: (lib.indexed_video if video else lib.indexed_image)(file_id))
        f = await service.open(claim)
        if f is None or claim is None:
            raise HTTPException(404)
        return f, claim.path

    async def image(request: Request) -> Response:
        file_id = request.path_params["id"]
        if await service.light(lambda lib: (lib.file(file_id) or {}).get("duration") is not None):
            return await thumb(request)  # a video's picture is its frame, never its bytes
        f, path = await indexed(request, video=False)
        headers = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff", "Vary": "Accept",
                   "Content-Security-Policy": "default-src 'none'; sandbox", **SAME_ORIGIN}
        kind = await service.kind(f)  # by its bytes: only raster types, never one the browser would run
        if kind is not None and shows(kind, request.headers.get("accept", "")):
            return FileSpan(f, 0, os.fstat(f.fileno()).st_size, kind, headers, name=path)
        jpeg = await service.render(f)  # RAW, HEIC, TIFF...: what the browser can show of it
        return FileSpan(io.BytesIO(jpeg), 0, len(jpeg), "image/jpeg", headers, name=path)

    async def video(request: Request) -> Response:
        f, path = await indexed(request, video=True)
        response = ranged(f, video_type(path), request.headers.get("range"), path)
        response.headers.update(SAME_ORIGIN)
        return response

    async def motion(request: Request) -> Response:
        """A Live Photo's motion, by its still's id, under the rules of `video`."""
        found = await service.light(lambda lib: lib.open_motion(request.path_params["id"]))
        if found is None:
            raise HTTPException(404)
        f, path = found
        response = ranged(f, video_type(path), request.headers.get("range"), path)
        response.headers.update(SAME_ORIGIN)
        return response

    async def openapi(request: Request) -> Response:
        return Response(spec, media_type="application/json")

    async def api_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)
        if isinstance(exc, LookupError):
            return JSONResponse({"error": str(exc)}, status_code=404)
        if isinstance(exc, (ValueError, CatalogError)):
            return JSONResponse({"error": str(exc)}, status_code=400)
        if isinstance(exc, (sqlite3.Error, OSError)):  # a damaged catalog, a full or missing drive
            return JSONResponse({"error": explain(exc, db)}, status_code=503)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/search", api_search),
            Route("/api/similar", api_similar, methods=["GET", "POST"]),
            Route("/api/status", api_status),
            Route("/api/watch", api_watch),
            Route("/api/dupes", api_dupes),
            Route("/api/file/{id:int}", api_file),
            Route("/api/openapi.json", openapi),
            Route("/thumb/{id:int}", thumb),
            Route("/image/{id:int}", image),
            Route("/video/{id:int}", video),
            Route("/motion/{id:int}", motion),
            *people_routes(service),
        ],
        exception_handlers={ApiError: api_error, LookupError: api_error, ValueError: api_error,
                            CatalogError: api_error, Exception: api_error},
        lifespan=lambda app: _closing(service),
    )
    if token:
        app.add_middleware(TokenGate, token=token)
    app.add_middleware(HostGate, names=None if token else {*LOOPBACK_NAMES, host.lower().strip("[]")})
    return app


def _page_policy(html: str) -> str:
    """The page's Content-Security-Policy: only its own inline script (by hash) runs, so markup
    that slipped into the page could not run script even if escaping failed; nothing is loaded
    from elsewhere, and no other site may frame it."""
    script = html.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src 'self'; "
            "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@asynccontextmanager
async def _closing(service: Service):
    service.warm()
    yield
    service.close()
