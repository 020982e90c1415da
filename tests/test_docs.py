"""The README stays short and the docs site stays whole: every page in the nav and every nav entry
a page, every command and every PICFIND_* variable the source reads documented. Fast, no network;
`mkdocs build --strict` (run by the Makefile) checks links and anchors."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
SOURCE = REPO / "src" / "picfind"

# The subcommands of the README's command table (`picfind` alone is the shell).
COMMANDS = ("index", "watch", "search", "similar", "dupes", "serve", "shell", "status", "roots", "models")


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.rglob("*.md")))


def nav_pages() -> list[str]:
    """The .md files the `nav:` of mkdocs.yml names, as paths relative to docs/. Read as text: the
    file holds a `!!python/name:` tag (the mermaid fence) that a safe YAML loader refuses."""
    lines = (REPO / "mkdocs.yml").read_text(encoding="utf-8").splitlines()
    start = lines.index("nav:")
    pages = []
    for line in lines[start + 1:]:
        if line.strip() and not line.startswith((" ", "-")):
            break  # the next top-level key
        pages += re.findall(r"[\w./-]+\.md\b", line)
    return pages


def test_the_readme_is_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move the detail into docs/"


def test_every_nav_entry_is_a_page_and_every_page_is_in_the_nav():
    nav = nav_pages()
    assert nav, "mkdocs.yml names no pages in its nav"
    assert len(nav) == len(set(nav)), f"pages named twice in the nav: {sorted(p for p in nav if nav.count(p) > 1)}"
    missing = [p for p in nav if not (DOCS / p).is_file()]
    assert not missing, f"mkdocs.yml's nav names pages that do not exist: {missing}"
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    left_out = [p for p in pages if p not in nav]
    assert not left_out, f"pages in docs/ missing from mkdocs.yml's nav: {left_out}"


def test_the_readme_links_point_at_files_that_exist():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:|#", t)]
    assert targets
    broken = [t for t in targets if not (REPO / t.split("#")[0]).exists()]
    assert not broken, f"README.md links to files that do not exist: {broken}"


def test_every_command_is_documented():
    text = docs_text()
    missing = [c for c in COMMANDS if not re.search(rf"\bpicfind {c}\b", text)]
    assert not missing, f"commands not in docs/: {missing}"


def test_every_environment_variable_the_source_reads_is_documented():
    used = set()
    for path in SOURCE.rglob("*.py"):  # recursive: the source lives in sub-packages
        used |= set(re.findall(r"\bPICFIND_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    assert used, f"no PICFIND_* variable found under {SOURCE}: has the source moved?"
    text = docs_text()
    missing = sorted(v for v in used if not re.search(rf"\b{v}\b", text))
    assert not missing, f"environment variables read by src/picfind but not in docs/: {missing}"


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _anchors(md: Path) -> set[str]:
    """The heading anchors MkDocs (and GitHub) make of a page: lower case, punctuation dropped, dashes."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+?)(?: \{#.*\})?$", md.read_text(encoding="utf-8"), re.M)}


def test_the_two_commands_are_two_and_the_quick_start_runs_as_written():
    """"The two commands" listed three; the quick start's `picfind` was not on the PATH after
    `make demo`, and named no catalog the demo had made."""
    import shlex

    from picfind.cli.args import build_parser

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    two = re.findall(r"^make \w+", _section(readme, "The two commands").split("```sh\n")[1].split("```")[0], re.M)
    assert two == ["make demo", "make test"]
    quick = _section(readme, "Quick start").split("```sh\n")[1].split("```")[0]
    lines = [shlex.split(line, comments=True) for line in quick.splitlines()]
    assert lines[0] == ["source", ".venv/bin/activate"] and (REPO / "Makefile").read_text().count("VENV   ?= .venv")
    parser = build_parser()
    for words in lines[1:]:
        assert words[0] == "picfind", words
        parser.parse_args(words[1:])  # every option as the parser has it (a wrong one exits 2)
    demo = (REPO / "scripts" / "demo.py").read_text(encoding="utf-8")
    assert '"demo-out"' in demo and '"catalog.db"' in demo and "--db demo-out/catalog.db" in quick


def test_the_sections_the_demo_points_to_exist():
    demo = (REPO / "scripts" / "demo.py").read_text(encoding="utf-8")
    links = re.findall(r"([\w/]+\.md)#([\w-]+)", demo)
    assert len(links) >= 2
    for page, anchor in links:
        assert anchor in _anchors(REPO / page), f"scripts/demo.py points to {page}#{anchor}, which is not there"


def test_the_runtime_dependency_list_is_the_one_pyproject_installs():
    """docs/index.md listed 11 of 15 runtime dependencies (no watchfiles, av, reverse-geocode)."""
    block = (REPO / "pyproject.toml").read_text(encoding="utf-8").split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    needed = {re.split(r"[<>=!~\[; ]", line.strip().strip('",'))[0].lower()
              for line in block.splitlines() if line.strip().startswith('"')}
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`([\w.-]+)`", text.split("Runtime dependencies", 1)[1].split("\n\n", 1)[0]))
    assert needed and needed <= listed, f"runtime dependencies not listed in docs/index.md: {sorted(needed - listed)}"
    assert not {n for n in listed if "-" in n or n.isalpha()} - needed - {"pip", "picfind"}, \
        f"listed in docs/index.md but not installed: {sorted(listed - needed)}"


def test_the_readme_and_the_overview_start_alike():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    overview = (DOCS / "index.md").read_text(encoding="utf-8")
    for title in ("The two commands", "Quick start"):
        assert _section(readme, title).replace("docs/", "") == _section(overview, title), title


def test_the_architecture_page_names_every_module_and_no_other():
    """Its package tree had no videos, watch or places."""
    section = (DOCS / "architecture.md").read_text(encoding="utf-8").split("## The packages", 1)[1].split("\n## ", 1)[0]
    modules = {p.name for p in SOURCE.rglob("*.py") if p.name != "__init__.py"}
    packages = {p.parent.relative_to(SOURCE).as_posix() + "/"
                for p in SOURCE.rglob("__init__.py") if p.parent != SOURCE}
    missing = sorted(m for m in modules if m not in section)
    assert not missing, f"modules not in docs/architecture.md's package tree: {missing}"
    tree = section.split("```", 2)[1]
    gone = sorted(n for n in re.findall(r"\b([a-z_]+\.py)\b", section) if n not in modules | {"__init__.py"})
    assert not gone, f"docs/architecture.md names modules that are not there: {gone}"
    unnamed = sorted(p for p in packages if p.split("/")[-2] + "/" not in tree)
    assert not unnamed, f"packages not in docs/architecture.md's tree: {unnamed}"
