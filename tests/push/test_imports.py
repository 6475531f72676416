"""homesync.push stays a leaf-ish layer: no web framework, CLI, database or services."""

from __future__ import annotations

import ast
from pathlib import Path

import homesync.push

ALLOWED_HOMESYNC = {
    "homesync",
    "homesync.config",
    "homesync.errors",
    "homesync.clock",
    "homesync.ids",
}
FORBIDDEN_THIRD_PARTY = {"litestar", "typer", "rich", "aiosqlite", "uvicorn", "granian"}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if node.module == "homesync"
            )
    return found


def test_push_imports_only_leaf_modules() -> None:
    package = Path(homesync.push.__file__).parent
    files = sorted(package.glob("*.py"))
    assert len(files) >= 9
    for path in files:
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top not in FORBIDDEN_THIRD_PARTY, f"{path.name} imports {module}"
            if top == "homesync" and not module.startswith("homesync.push"):
                assert module in ALLOWED_HOMESYNC, f"{path.name} imports {module}"
