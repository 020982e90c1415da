"""The doors of `picfind serve`: which requests reach the app at all. Without a token, only the
server's own host names (DNS rebinding) and its own page's POSTs; with one, only requests that
carry it."""

from __future__ import annotations

import hmac
import ipaddress
import re
import socket

from starlette.requests import Request
from starlette.responses import JSONResponse

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


WILDCARDS = ("0.0.0.0", "::", "")


def reachable(host: str, ipv4: bool = True) -> list[str]:
    """The names other computers can open a server listening on `host` by: the host itself, or
    for a wildcard (0.0.0.0, ::) this computer's own addresses and name (`ipv4=False`: a `::`
    listener that takes no IPv4, so its IPv6 addresses only, and the name where it has one). The
    outgoing address is asked of a UDP socket connected to a documentation address (connecting
    sends nothing)."""
    if host not in WILDCARDS:
        return [host]
    found: list[str] = []
    probes = ([(socket.AF_INET, "192.0.2.1")] if ipv4 else []) + (
        [(socket.AF_INET6, "2001:db8::1")] if host == "::" else [])
    for family, far in probes:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((far, 9))
                found.append(s.getsockname()[0])
        except OSError:  # no route: offline, or no such network
            pass
    name = socket.gethostname()
    try:
        family = (0 if ipv4 else socket.AF_INET6) if host == "::" else socket.AF_INET
        named = [a[4][0] for a in socket.getaddrinfo(name, None, family)]
    except OSError:
        named = []
    found += [a for a in named if "%" not in a]  # a link-local address needs its interface named
    kept = [a for a in dict.fromkeys(found) if not is_loopback(a)]
    return [*kept, name] if name and not is_loopback(name) and (ipv4 or named) else kept


def url_host(host: str) -> str:
    """A host as it goes in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class HostGate:
    """DNS rebinding and cross-site requests: without a token only the server's own host names
    are answered (`names`; None: any, the token guards). Every route but the page itself refuses
    a request another site's page makes (`Sec-Fetch-Site` other than same-origin or none, or an
    `Origin` that is not this server): another site could otherwise search, load pictures and
    burn CPU through the user's browser. The page may be opened from a link; a POST to it may not."""

    def __init__(self, app, names: set[str] | None) -> None:
        self.app, self.names = app, names

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(Request(scope))
            if refusal:
                await JSONResponse({"error": refusal}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> str | None:
        host = request.headers.get("host", "")
        if self.names is not None and _hostname(host) not in self.names:
            return (f"this server answers only to {', '.join(sorted(self.names))}, not {host!r}: "
                    "open it by one of those names, or start it with --token")
        origin = request.headers.get("origin")
        foreign = origin is not None and origin.split("://", 1)[-1] != host
        page = request.url.path == "/" and request.method in ("GET", "HEAD")
        if foreign and not page:
            return f"a request from another page ({origin}) is refused: use this server's own page"
        site = request.headers.get("sec-fetch-site", "none")
        if site not in ("same-origin", "none") and not page:
            return f"a request from another site ({site}) is refused: use this server's own page"
        return None


_HOST = re.compile(r"(?:\[([0-9a-f:.]+)\]|([^\[\]:@/\s]+))(?::[0-9]{1,5})?")


def _hostname(host: str) -> str | None:
    """The name in a Host header, without the port: `[::1]:8765` -> `::1`; None unless the whole
    header is a name and an optional numeric port (`127.0.0.1:8765@evil.example` is not)."""
    m = _HOST.fullmatch(host.lower())
    return (m.group(1) or m.group(2)) if m else None


def cookie_name(request: Request) -> str:
    """The token cookie's name, one per port: browsers send a host's cookies to every port on it,
    so another server on this host (another picfind, or anything else) never sees this one's."""
    return f"picfind_token_{request.url.port or (443 if request.url.scheme == 'https' else 80)}"


class TokenGate:
    """Every request needs the token: ?token=, an `Authorization: Bearer` header, or the cookie
    the page sets (named for the port). Compared in constant time."""

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
        given = (request.query_params.get("token") or request.cookies.get(cookie_name(request))
                 or (auth[7:] if auth.lower().startswith("bearer ") else ""))
        return hmac.compare_digest(given.encode(), self.token.encode())
