"""The dependency rule of docs/architecture.md, enforced on every module's imports (top-level and lazy)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

BOTTOM = {"app", "app.errors", "app.settings", "app.models", "app.resources", "app.home"}
TRANSPORT_LIBS = {"litestar", "nicegui", "fastapi", "starlette", "click", "httpx", "uvicorn", "rich", "websockets"}

# layer -> (app modules it may import, third-party packages it must not import)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "bottom": (BOTTOM, TRANSPORT_LIBS | {"piccolo", "asyncpg", "redis"}),
    "db": (BOTTOM | {"app.db"}, TRANSPORT_LIBS),
    "services": (BOTTOM | {"app.db", "app.services"}, TRANSPORT_LIBS),
    "web": (BOTTOM | {"app.db", "app.services", "app.web"}, {"nicegui", "click", "httpx", "rich"}),
    "ui": (BOTTOM | {"app.db", "app.services", "ui"}, {"litestar", "click", "httpx", "uvicorn"}),
    "cli": (BOTTOM | {"app.cli", "app.server"}, {"litestar", "nicegui", "piccolo", "fastapi", "uvicorn"}),
    "server": (BOTTOM | {"app.web", "app.server"}, {"nicegui", "click", "httpx", "piccolo"}),
}
# The composition root is the one place allowed to assemble the UI into the web app.
EXCEPTIONS = {("app.web.app", "ui")}


def layer_of(module: str) -> str:
    if module.startswith("ui"):
        return "ui"
    for prefix, layer in (
        ("app.db", "db"),
        ("app.services", "services"),
        ("app.web", "web"),
        ("app.cli", "cli"),
        ("app.server", "server"),
    ):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "bottom"


def modules() -> list[tuple[str, Path]]:
    found = []
    for root in ("app", "ui"):
        for path in sorted((REPO / root).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def imports_of(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names if node.module in ("app", "ui"))
    return names


def allowed(target: str, prefixes: set[str]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize(("module", "path"), modules(), ids=[m for m, _ in modules()])
def test_module_respects_the_dependency_rule(module: str, path: Path):
    own_allowed, forbidden_libs = RULES[layer_of(module)]
    for target in imports_of(path, module):
        top = target.split(".")[0]
        if top in ("app", "ui"):
            if target in ("app",) or (module, top) in EXCEPTIONS:
                continue
            assert allowed(target, own_allowed | {"app.__version__"}), f"{module} must not import {target}"
        else:
            assert top not in forbidden_libs, f"{module} ({layer_of(module)} layer) must not import {top}"


def test_services_never_touch_transports():
    for module, path in modules():
        if layer_of(module) == "services":
            assert not {t.split(".")[0] for t in imports_of(path, module)} & TRANSPORT_LIBS, module
