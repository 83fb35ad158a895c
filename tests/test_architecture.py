"""The shape of the code (docs/architecture.md): imports run one way, no cycles, small
modules. The import contracts themselves are in pyproject.toml ([tool.importlinter])."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("webapp", "jobs", "roles")
MAX_LINES = 300


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _cycles(graph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(
                        graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_no_import_cycle_among_our_modules():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for a, b in (("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")):
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph) == [["a", "b", "c"]]


def test_schedule_math_imports_nothing_of_ours():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert graph.find_modules_directly_imported_by("jobs.schedule") == set()


def test_no_module_is_over_300_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for package in (*PACKAGES, "bench") for p in (ROOT / package).rglob("*.py")}
    sizes["app.py"] = len((ROOT / "app.py").read_text().splitlines())
    assert {p: n for p, n in sizes.items() if n > MAX_LINES} == {}


def _docs() -> list[Path]:
    return [ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")]


def test_docs_and_comments_name_nothing_outside_the_repository():
    texts = {p: p.read_text() for p in _docs()}
    texts.update({p: p.read_text() for package in (*PACKAGES, "tests", "bench", "migrations")
                  for p in (ROOT / package).rglob("*.py")})
    outside = re.compile(r"\.\./shared|SPEC\.md|STYLE\.md|\bSPEC §")
    assert [str(p.relative_to(ROOT)) for p, text in texts.items()
            if p != Path(__file__) and outside.search(text)] == []


def test_every_relative_link_in_the_docs_resolves():
    broken = []
    for doc in _docs():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} → {target}")
    assert broken == []
