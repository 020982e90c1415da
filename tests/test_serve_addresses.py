"""`picfind serve` on every address and on IPv6: the addresses it prints answer, and a Host header
that is an IPv6 literal (`[::1]:8765`) is the server's own name."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .conftest import picfind, shape_files

MODEL = "tiny-shapes"


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port() -> int:
    """A port free on both IPv4 and IPv6 (a dual-stack listener takes both)."""
    with socket.socket(socket.AF_INET6 if has_ipv6_loopback() else socket.AF_INET) as s:
        if s.family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::" if s.family == socket.AF_INET6 else "127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    lib = tmp_path_factory.mktemp("serve") / "Pictures"
    lib.mkdir()
    for i, img in enumerate(shape_files("red", "circle", n=2, size=64)):
        img.save(lib / f"red-{i}.png")
    catalog = lib.parent / "c.db"
    picfind("index", str(lib), "--db", str(catalog), "--model", MODEL, "--quiet", check=True)
    return str(catalog)


@contextmanager
def serving(db: str, *args: str) -> Iterator[tuple[int, str]]:
    """`picfind serve` with these arguments on a free port: the port and the line it printed."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "picfind", "serve", "--db", db, "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving" in line, line + (proc.stderr.read() if proc.poll() is not None else "")
        yield port, line
    finally:
        proc.terminate()
        proc.wait(10)


def get(url: str, **headers: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def answers(url: str) -> bool:
    """Whether an address printed by `serve` resolves here; this computer's name may be one this
    network's DNS does not know (then it is not asked)."""
    host = url.split("//")[1].rsplit(":", 1)[0].strip("[]")
    try:
        socket.getaddrinfo(host, None)
    except OSError:
        return False
    return True


@pytest.mark.slow
def test_serve_on_every_ipv6_address_answers_over_ipv4_too(db: str) -> None:
    """`serve --host ::` listened on IPv6 alone (asyncio sets IPV6_V6ONLY) yet printed
    http://127.0.0.1:…/ and this computer's IPv4 addresses, none of which answered."""
    if not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    with serving(db, "--host", "::", "--token", "s3cret") as (port, line):
        for host in ("127.0.0.1", "[::1]"):
            status, body = get(f"http://{host}:{port}/api/status?token=s3cret")
            assert status == 200 and body["pictures"] == 2, (host, body)
        printed = re.findall(r"http://[^\s,;]+/", line)
        assert printed and printed[0] == f"http://127.0.0.1:{port}/", line
        for url in filter(answers, printed):
            assert get(f"{url}api/status?token=s3cret")[0] == 200, url


def test_a_listener_on_ipv6_alone_prints_no_ipv4_address() -> None:
    """Where `::` cannot take IPv4 too (no dual-stack sockets), its IPv4 addresses would not answer."""
    from picfind.web.gates import reachable

    assert not any(re.fullmatch(r"[0-9.]+", a) for a in reachable("::", ipv4=False))
    assert all(":" not in a for a in reachable("0.0.0.0"))  # nor an IPv6 one on 0.0.0.0


@pytest.mark.slow
def test_an_ipv6_literal_host_is_the_servers_own_name(db: str) -> None:
    """Without a token the server answers only to its own names: `[::1]:PORT` is one of them,
    and its page's own requests (Origin `http://[::1]:PORT`) are not another site's."""
    if not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    with serving(db, "--host", "::1") as (port, line):
        url = f"http://[::1]:{port}/"
        assert url in line, line
        status, body = get(url + "api/status")
        assert status == 200 and body["pictures"] == 2, body
        own = {"Origin": url.rstrip("/"), "Sec-Fetch-Site": "same-origin"}
        assert get(url + "api/search?q=a+red+circle&n=1", **own)[0] == 200
        assert get(url + "api/search?q=a+red+circle&n=1", Origin="http://evil.example")[0] == 403
        assert get(url + "api/status", Host="evil.example")[0] == 403
