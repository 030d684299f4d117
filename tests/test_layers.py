"""The layers of DESIGN.md, enforced: every import in the tree (module level or inside a
function) is read with `ast` and checked against the rules below, so a shortcut across a
layer fails CI instead of growing quietly.

    core  <-  signalling, mediaserver  <-  lippejob (the CLI wires both)
    web: templates and static files; imports no service
    tests, loadtests  ->  testsupport (never tests -> loadtests)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "signalling", "mediaserver", "web", "lippejob", "testsupport", "tests")
PACKAGES += ("loadtests",)

# importer prefix -> prefixes it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": ("signalling", "mediaserver", "web", "lippejob", "testsupport", "tests", "loadtests"),
    "web": ("core", "signalling", "mediaserver", "lippejob", "testsupport", "tests", "loadtests"),
    "mediaserver": ("signalling", "lippejob", "web", "testsupport", "tests", "loadtests"),
    "signalling": ("mediaserver", "lippejob", "testsupport", "tests", "loadtests"),
    "lippejob": ("testsupport", "tests", "loadtests"),
    "testsupport": ("tests", "loadtests"),
    "tests": ("loadtests",),
    # Inside signalling: tokens and passwords know nothing of the socket or the HTTP API, the
    # room socket nothing of the HTTP API.
    "signalling.auth": ("signalling.room", "signalling.http"),
    "signalling.room": ("signalling.http",),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import statement in the file, nested ones too."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = (package or module_name(path)).split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # `from pkg import module` imports pkg.module too
            found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
    return found


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations() -> list[str]:
    found: list[str] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            importer = module_name(path)
            rules = [(p, banned) for p, banned in FORBIDDEN.items() if under(importer, p)]
            for line, imported in imports_of(path):
                for prefix, banned in rules:
                    hit = next((b for b in banned if under(imported, b)), None)
                    if hit is not None:
                        rel = path.relative_to(ROOT)
                        found.append(f"{rel}:{line}: {importer} ({prefix}) imports {imported}")
    return sorted(set(found))


def test_every_import_goes_down_the_layers() -> None:
    bad = violations()
    assert not bad, "imports across layers:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from signalling.room.hub import RoomHub\n", "core/bad.py:1: core.bad (core)"),
        ("def f():\n    import mediaserver.worker\n", "core/bad.py:2: core.bad (core)"),
    ],
)
def test_the_checker_sees_a_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str
) -> None:
    """The checker itself: a forbidden import, at module level or in a function, is found."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "bad.py").write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert any(v.startswith(expected) for v in violations())
