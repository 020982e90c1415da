"""`picfind models`: list, download, import, verify and remove models, through the library's
models door (`picfind.library.models`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from picfind.cli.args import EXIT_ERROR, UsageError
from picfind.cli.output import dumps
from picfind.errors import terminal
from picfind.library import models


def cmd_models(args: argparse.Namespace) -> int:
    action = args.models_command or "list"
    if action == "list":
        rows = models.list_models()
        if getattr(args, "json", False):
            print(dumps([r.as_dict() for r in rows]))
            return 0
        width = max(22, *(len(r.name) + 2 for r in rows))
        for r in rows:
            mark = "installed" if r.installed else "-"
            name = f"{r.name} *" if r.default else r.name
            print(terminal(f"{name:<{width}} {r.size / 1e6:>7.0f} MB  {r.licence:<12} {mark:<10} {r.hashes}"))
            print(f"{'':<{width}} {terminal(str(r.description))}"
                  + (f"\n{'':<{width}} {terminal(r.path)}" if r.path else ""))
            reads = "English only" if r.languages == "en" else r.languages
            pairs = f"; text only, answers for catalogs of {', '.join(r.pairs_with)}" if r.pairs_with else ""
            print(f"{'':<{width}} reads: {terminal(reads)}{terminal(pairs)}")
        print("* the default for a new catalog; a catalog keeps the model it was indexed with")
        return 0
    if action == "download":
        bar = None

        def progress(label: str, done: int, total: int) -> None:
            nonlocal bar
            if getattr(args, "quiet", False):
                return
            from tqdm import tqdm

            if bar is None or bar.desc != label:
                if bar is not None:
                    bar.close()
                bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=label, file=sys.stderr)
            bar.update(done - bar.n)

        try:
            bundle = models.download(args.name, progress)
        finally:
            if bar is not None:
                bar.close()
        print(f"{bundle.name} installed in {bundle.path}")
        return 0
    if action == "import":
        bundle = models.import_folder(Path(args.dir), args.as_name)
        print(terminal(f"{bundle.name} imported into {bundle.path} (all files verified)"))
        return 0
    if action == "verify":
        bundle, problems, prepared = models.verify(args.model)
        if problems:
            for p in problems:
                print(terminal(f"FAILED {bundle.name}: {p}"), file=sys.stderr)
            return EXIT_ERROR
        print(terminal(f"OK {bundle.name}: {len(bundle.files)} files match their sha256 ({bundle.path})"))
        for line in prepared:
            print(terminal(f"OK {bundle.name}: {line}"))
        return 0
    if action == "remove":
        path = models.remove(args.name)
        print(terminal(f"removed {args.name} ({path})"))
        return 0
    raise UsageError(f"unknown models action {action!r}")
