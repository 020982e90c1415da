"""`picfind serve`'s server: uvicorn with limits, so clients that connect and never send, or ask
and never read, cannot exhaust the process's descriptors; and the start line, which never
shows the token."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from picfind.web.app import create_app
from picfind.web.gates import WILDCARDS, reachable, url_host

REQUEST_SECONDS = 10.0  # a new connection must send its request's headers within this


class _Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 with a deadline for the first request: a connection that sends nothing
    (or dribbles its headers) is closed after REQUEST_SECONDS instead of holding a socket for
    ever (uvicorn's own keep-alive timeout only starts after a response)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.call_later(REQUEST_SECONDS, self._silent)

    def _silent(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)


CONNECTIONS_MAX = 200  # connections at once (more get 503 and are closed): each may hold a socket and a file
KEEP_ALIVE_SECONDS = 5  # an idle connection is closed after this


class _Quiet(logging.Filter):
    """uvicorn's lines, made few: a response that stopped short is left out (picfind said why in
    its own line: a file changed while sent; a client that stopped reading needs none), and a
    connection over the cap is said once a minute, not once each."""

    def __init__(self) -> None:
        super().__init__()
        self.said = -60.0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message == "ASGI callable returned without completing response.":
            return False
        if message == "Exceeded concurrency limit.":
            now = time.monotonic()
            if now - self.said < 60:
                return False
            self.said = now
            record.msg, record.args = "picfind: too many connections at once: the ones over the cap get 503 " \
                                      "(said once a minute)", ()
        return True


def server_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    """uvicorn's settings: connections capped below the process's file limit (raised to its hard
    limit first), so clients that connect and never read cannot exhaust descriptors; each holds
    a socket and at most one open file, closed when it stalls (`ranges.SEND_SECONDS`) or goes."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536,) * 2)
        except (ValueError, OSError):
            pass
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _Quiet) for f in errors.filters):
        errors.addFilter(_Quiet())
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, http=_Protocol,
                          limit_concurrency=max(8, min(CONNECTIONS_MAX, (soft - 64) // 3)),
                          timeout_keep_alive=KEEP_ALIVE_SECONDS)


def every_address(port: int) -> tuple[socket.socket, bool]:
    """The listening socket for `--host ::`, every address: IPv6 that takes IPv4 too (IPV6_V6ONLY
    off; asyncio, left to bind `::` itself, turns it on), and whether it does (a system without
    dual-stack sockets keeps it IPv6-only: then only IPv6 addresses answer)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            dual = sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        except (OSError, AttributeError):
            dual = False
        sock.bind(("::", port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock, dual


def serve(db: Path | str, model: str | None, host: str, port: int, token: str | None, open_browser: bool,
          watch: bool = False, token_from: str = "", text_model: str | None = None) -> None:
    """Serve until interrupted. The start line never shows the token (a systemd unit's output
    lands in the journal): it says where the token was given instead. It shows only addresses
    that answer: on `::` without dual stack, no IPv4 one."""
    app = create_app(db, model, token, host, watch, text_model)
    sockets, ipv4 = None, host != "::"
    if host == "::":
        sock, ipv4 = every_address(port)
        sockets = [sock]
    shown = ("127.0.0.1" if ipv4 else "[::1]") if host in WILDCARDS else url_host(host)
    address = f"http://{shown}:{port}/"
    others = [f"http://{url_host(h)}:{port}/" for h in reachable(host, ipv4)] if host in WILDCARDS else []
    elsewhere = f"; from other computers: {', '.join(others)}" if others else ""
    needs = f"  (add ?token= and the token from {token_from or '--token'})" if token else ""
    server = uvicorn.Server(server_config(app, host, port))

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets))
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            print(f"picfind: serving {address}{elsewhere}{needs}  (Ctrl-C stops)", flush=True)
            if open_browser:
                import webbrowser
                webbrowser.open(address + (f"?token={token}" if token else ""))  # to the browser, not the log
        await task
    asyncio.run(run())
