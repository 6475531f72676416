"""The import rules of ARCHITECTURE.md, checked on the source with ``ast``.

Layers::

    api/ (+ app.py)   cli/          only api imports Litestar; only cli imports Typer/Rich;
          \\          /              neither imports the other (cli may start app.py)
           services/                no web, terminal or HTTP-client libraries
          /         \\
      store/        push/           store: leaf modules only, and all the SQL;
                                    push: providers, no store/services/api/cli
    leaf modules: config, errors, models, clock, ids, paths, to_the_end (import only each other)
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "homesync"

LEAVES = {f"homesync.{name}" for name in ("config", "errors", "models", "clock", "ids", "paths",
                                              "to_the_end")}
WEB = ("litestar",)
TERMINAL = ("typer", "rich", "click")
HTTP_CLIENT = ("httpx",)

# (layer, forbidden import prefixes, why)
FORBIDDEN: list[tuple[str, tuple[str, ...], str]] = [
    ("services", WEB + TERMINAL + HTTP_CLIENT + ("homesync.api", "homesync.cli", "homesync.app"),
     "services hold the rules: no HTTP, no terminal"),
    ("store", WEB + TERMINAL + HTTP_CLIENT + ("homesync.api", "homesync.cli", "homesync.app",
                                              "homesync.services", "homesync.push"),
     "store imports only leaf modules"),
    ("push", WEB + TERMINAL + ("homesync.store", "homesync.services", "homesync.api",
                               "homesync.cli", "homesync.app"),
     "push providers know nothing of the layers above"),
    ("api", TERMINAL + ("homesync.cli",), "api and cli do not import each other"),
    ("cli", WEB + ("homesync.api",), "api and cli do not import each other"),
    ("leaf", WEB + TERMINAL + HTTP_CLIENT, "leaf modules are plain"),
]

# What any module outside the named layer must not import.
ONLY_IN: list[tuple[tuple[str, ...], set[str], str]] = [
    (WEB, {"api", "app", "asgi"}, "only api/ (and the app factories) import Litestar"),
    (TERMINAL, {"cli"}, "only cli/ imports Typer/Rich"),
]

SQL = re.compile(r"\bSELECT\b.*\bFROM\b|\bINSERT\s+(OR\s+\w+\s+)?INTO\b|\bUPDATE\b\s+\w+\s+SET\b"
                 r"|\bDELETE\s+FROM\b|\bCREATE\s+(TABLE|INDEX)\b|\bSELECT\s+1\b|\bPRAGMA\s+\w+",
                 re.DOTALL)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    """``homesync.store.db`` → ``store``; a leaf module → ``leaf``; ``homesync.app`` → ``app``."""
    if is_under(module, LEAVES):  # homesync.config.loader is part of the leaf homesync.config
        return "leaf"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "root"


def imports_of(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every module imported anywhere in the file (functions and TYPE_CHECKING included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from homesync import api` imports homesync.api
                yield node.lineno, f"{target}.{alias.name}"


def is_under(name: str, prefixes: tuple[str, ...] | set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def strings_of(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):  # f"SELECT {cols} FROM t": join the literal parts
            text = "".join(v.value if isinstance(v, ast.Constant) else " x "
                           for v in node.values)
            yield node.lineno, str(text)


def violations(root: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        layer = layer_of(module)
        where = path.relative_to(root.parent)
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for line, name in imports_of(tree, module, path.name == "__init__.py"):
            for rule_layer, forbidden, why in FORBIDDEN:
                if layer == rule_layer and is_under(name, forbidden):
                    found.append(f"{where}:{line}: imports {name} ({why})")
            for libraries, allowed, why in ONLY_IN:
                if layer not in allowed and is_under(name, libraries):
                    found.append(f"{where}:{line}: imports {name} ({why})")
            if layer == "leaf" and name.startswith("homesync.") and not is_under(name, LEAVES):
                found.append(f"{where}:{line}: imports {name} (leaf modules import only leaves)")
        if layer != "store":
            for line, text in strings_of(tree):
                if SQL.search(text):
                    snippet = " ".join(text.split())[:60]
                    found.append(f"{where}:{line}: SQL outside store/: {snippet!r}")
    return sorted(set(found))


def test_homesync_keeps_its_layers() -> None:
    assert violations(PACKAGE_ROOT) == []


# -- the checker itself catches what it should -----------------------------------------


@pytest.mark.parametrize(
    ("path", "source", "complaint"),
    [
        ("services/x.py", "import litestar\n", "imports litestar"),
        ("services/x.py", "from httpx import AsyncClient\n", "imports httpx"),
        ("services/x.py", "def f():\n    from homesync.api import wire\n", "homesync.api"),
        ("services/x.py", "from ..api import wire\n", "homesync.api"),
        ("services/x.py", "from homesync import cli\n", "homesync.cli"),
        ("store/x.py", "from homesync.services.auth import accounts\n", "homesync.services"),
        ("store/x.py", "from . import db\nfrom ..push import base\n", "homesync.push"),
        ("push/x.py", "from homesync.store import db\n", "homesync.store"),
        ("api/x.py", "import rich\n", "only cli/ imports Typer/Rich"),
        ("cli/x.py", "from homesync.api.wire import ok\n", "homesync.api"),
        ("cli/x.py", "from litestar import get\n", "import Litestar"),
        ("config.py", "from homesync.store import db\n", "leaf modules import only leaves"),
        ("config/loader.py", "from homesync.store import db\n", "leaf modules import only leaves"),
        ("config/schema.py", "import httpx\n", "leaf modules are plain"),
        ("services/x.py", 'Q = "SELECT id FROM users WHERE x = ?"\n', "SQL outside store/"),
        ("api/x.py", 'q = f"UPDATE {t} SET a = 1"\n', "SQL outside store/"),
        ("cli/x.py", 'q = ("DELETE FROM devices"\n     " WHERE id = ?")\n', "SQL outside store/"),
        ("api/x.py", 'await db.fetchone("SELECT 1")\n', "SQL outside store/"),
        ("services/x.py", 'await conn.execute("PRAGMA user_version")\n', "SQL outside store/"),
    ],
)
def test_checker_finds(tmp_path: Path, path: str, source: str, complaint: str) -> None:
    root = tmp_path / "homesync"
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    found = violations(root)
    assert any(complaint in v for v in found), found


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("store/x.py", 'from homesync.config import Settings\nQ = "SELECT 1 FROM t"\n'),
        ("store/x.py", "from . import db\n"),
        ("services/x.py", "from homesync.store import db\nfrom homesync.push import base\n"),
        ("services/x.py", 'MSG = "Select the files from your phone"\n'),
        ("api/x.py", "from litestar import get\nfrom homesync.services.auth import accounts\n"),
        ("app.py", "from litestar import Litestar\nfrom homesync.api import routes\n"),
        ("cli/x.py", "import typer\nfrom homesync.app import create_app\n"),
        ("push/x.py", "import httpx\nfrom homesync.config import Settings\n"),
        ("config/loader.py", "from homesync.config.schema import Settings\nimport msgspec\n"),
    ],
)
def test_checker_allows(tmp_path: Path, path: str, source: str) -> None:
    root = tmp_path / "homesync"
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    assert violations(root) == []
