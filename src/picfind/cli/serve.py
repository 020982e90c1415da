"""`picfind serve`: its arguments checked before the server starts (the token and where it comes
from, the address, the model), then the web server (`picfind.web.server`)."""

from __future__ import annotations

import argparse
import os
import socket
import stat
from typing import TYPE_CHECKING

from picfind.cli.args import UsageError
from picfind.cli.output import shown

if TYPE_CHECKING:
    from picfind.library import Library


def cmd_serve(args: argparse.Namespace, lib: Library) -> int:
    from picfind.web.gates import is_loopback, url_host
    from picfind.web.server import every_address, serve

    token, where = server_token(args)
    if not is_loopback(args.host) and not token:
        raise UsageError(f"--host {args.host} lets other computers in: add --token SECRET "
                         "(every request must then carry it)")
    try:
        if args.host == "::":  # as the server will: IPv4 too
            every_address(args.port)[0].close()
        else:
            with socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET) as probe:
                probe.bind((args.host, args.port))
    except OSError as e:
        raise UsageError(f"cannot listen on {url_host(args.host)}:{args.port}: {e.strerror}; "
                         "pick another --port") from None
    if args.watch and not lib.roots():
        raise UsageError("--watch: no folders to watch yet; run `picfind index FOLDER` (or `picfind watch FOLDER`)")
    lib.bundle  # noqa: B018 - a missing model is one line now, not an error on every query later
    lib.text_bundle  # noqa: B018 - likewise a text encoder that does not pair with the model
    lib.close()  # the server opens its own, on its worker thread
    serve(lib.target, getattr(args, "model", None), args.host, args.port, token, args.open, args.watch, where,
          getattr(args, "text_model", None))
    return 0


TOKEN_FILE_MAX = 4096  # a token file holds one line


def server_token(args: argparse.Namespace) -> tuple[str | None, str]:
    """The token and where it came from: --token, else the first line of --token-file, else
    $PICFIND_TOKEN ((None, ""): no token)."""
    if args.token:
        return args.token, "--token"
    if args.token_file:
        return read_token_file(args.token_file), f"--token-file {args.token_file}"
    token = os.environ.get("PICFIND_TOKEN", "").strip()
    return (token, "$PICFIND_TOKEN") if token else (None, "")


def read_token_file(path: str) -> str:
    """The first line of a regular file of at most a few KB: a FIFO would block the start for
    ever and a device (/dev/zero) would be read without end, so neither is read at all."""
    name = shown(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        raise UsageError(f"--token-file {name}: {e.strerror or e}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"--token-file {name} is not a regular file: write the token on the first line of a file")
    with os.fdopen(fd, "rb") as f:
        data = f.read(TOKEN_FILE_MAX + 1)
    if len(data) > TOKEN_FILE_MAX:
        raise UsageError(f"--token-file {name} is larger than {TOKEN_FILE_MAX:,} bytes: it should hold the token "
                         "on one line")
    try:
        token = data.decode("utf-8").partition("\n")[0].strip()
    except UnicodeDecodeError:
        raise UsageError(f"--token-file {name} is not text: write the token on its first line") from None
    if not token:
        raise UsageError(f"--token-file {name} is empty: write the token on its first line")
    return token
