"""What tells the watcher that something changed: which changed paths belong to which root (each
root's scope), and, looked at every few seconds, cheaply, each root's identity (a stat) and the
mount table (Linux: /proc/self/mountinfo).

A root whose identity changes (gone, back, another drive mounted on its folder) or under which a
mount comes or goes cannot be trusted to its events: it is re-scanned whole and watched anew.
A root on a network file system never hears of changes made on other computers, so it is
re-scanned now and then instead.
"""

from __future__ import annotations

import os
from collections import defaultdict

from picfind.indexing.crawl import excluded_path
from picfind.records import Root

# File systems whose changes made elsewhere raise no event here (inotify sees only local writes).
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "glusterfs", "lustre",
              "gpfs", "davfs", "fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse", "fuse.glusterfs"}

Identity = tuple[int, int] | None  # (st_dev, st_ino) of a root folder; None: not there


def identity(path: str) -> Identity:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if os.path.isdir(path) else None


def mounts() -> dict[str, str]:
    """Mount point -> file system type, from /proc/self/mountinfo ({} where there is none)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields = head.split()
        if len(fields) >= 5 and tail:
            out[_unescape(fields[4])] = tail.split()[0]
    return out


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040)."""
    if "\\" not in text:
        return text
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def touched_by(mount_points: set[str], roots: list[Root]) -> list[Root]:
    """Roots that one of these (new or gone) mount points lies in, or that lie in one."""
    return [r for r in roots if any(_inside(m, r.path) or _inside(r.path, m) for m in mount_points)]


def on_network(root: str, table: dict[str, str]) -> bool:
    """Whether the root lies on a network file system (the deepest mount point holding it)."""
    holders = [m for m in table if _inside(root, m)]
    return bool(holders) and table[max(holders, key=len)] in NETWORK_FS


def scopes(paths: set[str], roots: list[Root], own: list[str]) -> tuple[dict[int, list[str]], set[int]]:
    """Changed paths as each root's scope (the files and folders to re-walk, none inside
    another), and the roots to re-scan whole (their folder itself changed). Left out: picfind's
    own files, excluded paths, and files of a type the root does not index."""
    ordered = innermost_first(roots)
    found: dict[int, set[str]] = defaultdict(set)
    whole: set[int] = set()
    for path in paths:
        root = owner(path, ordered, own)
        if root is None:
            continue
        if path == root.path:
            whole.add(root.id)
        else:
            found[root.id].add(path)  # a wanted file, a folder, or something gone (a file or a folder)
    return {rid: _outermost(starts) for rid, starts in found.items() if rid not in whole}, whole


def innermost_first(roots: list[Root]) -> list[Root]:
    return sorted(roots, key=lambda r: len(r.path), reverse=True)  # a path belongs to the innermost root


def owner(path: str, ordered: list[Root], own: list[str]) -> Root | None:
    """The root (of `innermost_first` roots) whose walk would look at a changed path; None for a
    path no walk wants: outside every root, picfind's own, excluded, or a file of another type
    (a growing log, a `.part` download). Such a path is dropped as its event comes, so it can
    never hold back what settles."""
    if any(_inside(path, o) for o in own):
        return None
    root = next((r for r in ordered if _inside(path, r.path)), None)
    if root is None or path == root.path:
        return root
    if excluded_path(root.path, path, root.excludes):
        return None
    if os.path.splitext(path)[1].lower().lstrip(".") in root.extensions or not os.path.isfile(path):
        return root
    return None


def _outermost(paths: set[str]) -> list[str]:
    """The paths, less those inside another of them."""
    out: list[str] = []
    for p in sorted(paths, key=lambda p: p.split(os.sep)):
        if not out or not _inside(p, out[-1]):
            out.append(p)
    return out
