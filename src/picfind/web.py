"""`picfind serve`: a local web page over the catalog, and its JSON API (Starlette on uvicorn).

Safety: it binds to 127.0.0.1 unless told otherwise, and then only with a token that every
request must carry. Pictures are served by catalog id only, never by a path from the request.
Uploaded images (search by example) are read in memory, capped in size, never written to disk.

All library work, down to finding a thumbnail's file by id, runs on one worker thread (SQLite
connections belong to one thread, and the encoder is already multi-threaded); sending the
files happens on the event loop.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .catalog import CatalogError, printable
from .dupes import DEFAULT_THRESHOLD, exact_copies, near_duplicates
from .filters import Filter
from .library import Library
from .query import split as split_query
from .search import Hit

UPLOAD_MAX = 25 * 2**20
PAGE_MAX = 500  # results per request
RESULTS_MAX = 20_000  # how deep "more results" may scroll
DATE_POOL = 1000  # sort=date orders this many best matches newest first (min_score narrows them)
CACHE_SECONDS = 7 * 24 * 3600  # thumbnails are named by content, so they never go stale


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Service:
    """The library, opened on its own worker thread, and the calls the routes make."""

    def __init__(self, db: Path, model: str | None) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="picfind-web")
        self.db, self.model = db, model
        self.lib: Library | None = None

    async def call(self, fn):
        """`fn(library)` on the worker thread."""
        def run():
            if self.lib is None:
                self.lib = Library(self.db, model=self.model)
            return fn(self.lib)
        return await asyncio.get_running_loop().run_in_executor(self.pool, run)

    def close(self) -> None:
        if self.lib is not None:
            self.pool.submit(self.lib.close).result()
        self.pool.shutdown()


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


def _options(request: Request) -> dict:
    """Paging, filters and sort from the query string, checked."""
    q = request.query_params
    min_score = q.get("min_score")
    try:
        where = Filter.of(q.getlist("in"), q.get("after") or None, q.get("before") or None, q.get("ext") or None,
                          _int(request, "min_width", 0, 0, 10**6) or None,
                          _int(request, "min_height", 0, 0, 10**6) or None)
        score = float(min_score) if min_score else None
    except ValueError as e:
        raise ApiError(400, str(e)) from None
    sort = q.get("sort", "score")
    if sort not in ("score", "date"):
        raise ApiError(400, "sort must be score or date")
    return {"n": _int(request, "n", 60, 1, PAGE_MAX), "offset": _int(request, "offset", 0, 0, RESULTS_MAX),
            "min_score": score, "where": where, "sort": sort}


def _page(hits: list[Hit], offset: int, n: int) -> dict:
    """`hits`: the page asked for and one more, to tell whether there is more."""
    return {"results": [_row(h.as_dict()) for h in hits[:n]], "offset": offset, "more": len(hits) > n}


def _paging(o: dict) -> dict:
    """Library keywords for one page, and one result more. Sorted by date, every page orders the
    same best DATE_POOL matches, so pages partition one ordering."""
    return {"offset": o["offset"], "pool": DATE_POOL if o["sort"] == "date" else None}


def _row(item: dict) -> dict:
    """A result or a duplicate-group member as JSON: printable paths, and where its pictures are."""
    return {**printable(item), "thumb": f"/thumb/{item['id']}", "image": f"/image/{item['id']}"}


def create_app(db: Path, model: str | None = None, token: str | None = None) -> Starlette:
    service = Service(db, model)
    files = resources.files("picfind").joinpath("web")
    html = files.joinpath("index.html").read_text(encoding="utf-8")
    spec = files.joinpath("openapi.json").read_text(encoding="utf-8")

    async def page(request: Request) -> Response:
        response = HTMLResponse(html, headers={"Cache-Control": "no-cache"})
        if token:  # the page's own requests (images included) then carry the token as a cookie
            response.set_cookie("picfind_token", token, httponly=True, samesite="strict")
        return response

    async def api_search(request: Request) -> Response:
        query = request.query_params.get("q", "")
        o = _options(request)
        ocr_only = request.query_params.get("ocr_only", "") in ("1", "true")
        hits = await service.call(lambda lib: lib.search(split_query(query), o["n"] + 1, o["min_score"],
                                                         o["where"], o["sort"], **_paging(o), ocr_only=ocr_only))
        return JSONResponse({"query": query, **_page(hits, o["offset"], o["n"])})

    async def api_similar(request: Request) -> Response:
        o = _options(request)
        k = o["n"] + 1
        if request.method == "POST":
            if int(request.headers.get("content-length") or 0) > UPLOAD_MAX:
                raise ApiError(413, f"the image is larger than {UPLOAD_MAX // 2**20} MB")
            data = bytearray()
            async for chunk in request.stream():
                data += chunk
                if len(data) > UPLOAD_MAX:
                    raise ApiError(413, f"the image is larger than {UPLOAD_MAX // 2**20} MB")
            if not data:
                raise ApiError(400, "send the image file as the request body")
            hits = await service.call(lambda lib: lib.similar(bytes(data), k, o["min_score"], o["where"], o["sort"],
                                                               **_paging(o)))
        else:
            file_id = _int(request, "id", -1, 0, 2**62)
            if file_id < 0:
                raise ApiError(400, "id is required: a picture's id from a search result")
            hits = await service.call(lambda lib: lib.similar(file_id, k, o["min_score"], o["where"], o["sort"],
                                                               **_paging(o)))
        return JSONResponse(_page(hits, o["offset"], o["n"]))

    async def api_dupes(request: Request) -> Response:
        near = request.query_params.get("near", "") not in ("", "0", "false")
        try:
            threshold = float(request.query_params.get("threshold") or DEFAULT_THRESHOLD)
        except ValueError:
            raise ApiError(400, "threshold must be a number between -1 and 1") from None

        def find(lib: Library) -> list:
            groups = (near_duplicates(lib.catalog, lib.model, threshold, index=lib.vector_index()) if near
                      else exact_copies(lib.catalog))
            return [g.as_dict() for g in groups]
        groups = await service.call(find)
        for g in groups:
            g["members"] = [_row(m) for m in g["members"]]
        return JSONResponse({"groups": groups, "wasted_bytes": sum(g["wasted_bytes"] for g in groups)})

    async def api_status(request: Request) -> Response:
        return JSONResponse(await service.call(lambda lib: lib.status()))

    async def api_file(request: Request) -> Response:
        found = await service.call(lambda lib: lib.catalog.file_by_id(request.path_params["id"]))
        if found is None:
            raise ApiError(404, "no such picture")
        return JSONResponse({"id": request.path_params["id"], "path": printable(found["path"])})

    async def thumb(request: Request) -> Response:
        file_id = request.path_params["id"]

        def find(lib: Library) -> Path | None:
            found = lib.catalog.file_by_id(file_id)
            return lib.thumbnails.ensure(found["content_hash"], found["path"]) if found else None
        path = await service.call(find)
        if path is None:
            raise HTTPException(404)
        return FileResponse(path, media_type="image/jpeg",
                            headers={"Cache-Control": f"private, max-age={CACHE_SECONDS}, immutable"})

    async def image(request: Request) -> Response:
        found = await service.call(lambda lib: lib.catalog.file_by_id(request.path_params["id"]))
        if found is None or not Path(found["path"]).is_file():
            raise HTTPException(404)
        return FileResponse(found["path"], headers={"Cache-Control": "private, max-age=300"})

    async def openapi(request: Request) -> Response:
        return Response(spec, media_type="application/json")

    async def api_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        if isinstance(exc, LookupError):
            return JSONResponse({"error": str(exc)}, status_code=404)
        if isinstance(exc, (ValueError, CatalogError)):
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/search", api_search),
            Route("/api/similar", api_similar, methods=["GET", "POST"]),
            Route("/api/status", api_status),
            Route("/api/dupes", api_dupes),
            Route("/api/file/{id:int}", api_file),
            Route("/api/openapi.json", openapi),
            Route("/thumb/{id:int}", thumb),
            Route("/image/{id:int}", image),
        ],
        exception_handlers={ApiError: api_error, LookupError: api_error, ValueError: api_error,
                            CatalogError: api_error, Exception: api_error},
        lifespan=lambda app: _closing(service),
    )
    if token:
        app.add_middleware(TokenGate, token=token)
    return app


@asynccontextmanager
async def _closing(service: Service):
    yield
    service.close()


class TokenGate:
    """Every request needs the token: ?token=, an `Authorization: Bearer` header, or the cookie
    the page sets. Compared in constant time."""

    def __init__(self, app, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not self._allowed(Request(scope)):
            response = JSONResponse({"error": "this server needs its token: open the address with ?token=..."},
                                    status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        given = (request.query_params.get("token") or request.cookies.get("picfind_token")
                 or (auth[7:] if auth.lower().startswith("bearer ") else ""))
        return hmac.compare_digest(given.encode(), self.token.encode())


def serve(db: Path, model: str | None, host: str, port: int, token: str | None, open_browser: bool) -> None:
    import uvicorn

    app = create_app(db, model, token)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            print(f"picfind: serving {address}  (Ctrl-C stops)", flush=True)
            if open_browser:
                import webbrowser
                webbrowser.open(address)
        await task
    asyncio.run(run())
