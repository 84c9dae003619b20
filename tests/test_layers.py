"""The dependency rule of docs/architecture.md, enforced on every module's imports (top-level and lazy)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

BOTTOM = {"app.errors", "app.settings", "app.models", "app.resources", "app.home", "app.ids", "app.desktop"}
TRANSPORT_LIBS = {"litestar", "nicegui", "fastapi", "starlette", "click", "httpx", "uvicorn", "rich", "websockets"}
STORAGE_LIBS = {"piccolo", "asyncpg", "redis", "aiosqlite"}

# layer -> (app modules it may import, third-party packages it must not import)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "bottom": (BOTTOM, TRANSPORT_LIBS | STORAGE_LIBS),
    "terminals": ({"app.terminals"}, TRANSPORT_LIBS | STORAGE_LIBS),  # the pty host knows nothing of the domain
    "db": (BOTTOM | {"app.db"}, TRANSPORT_LIBS),
    "services": (BOTTOM | {"app.db", "app.terminals", "app.services"}, TRANSPORT_LIBS),
    "web": (BOTTOM | {"app.db", "app.terminals", "app.services", "app.web"}, {"nicegui", "click", "httpx", "rich"}),
    "ui": (BOTTOM | {"app.services", "ui"}, {"litestar", "click", "httpx", "uvicorn", "piccolo"}),
    "cli": (BOTTOM | {"app.cli", "app.server"}, {"litestar", "nicegui", "piccolo", "fastapi", "uvicorn"}),
    "server": (BOTTOM | {"app.web", "app.server"}, {"nicegui", "click", "httpx", "piccolo"}),
}
# The composition root is the one place allowed to assemble the UI into the web app.
EXCEPTIONS = {("app.web.app", "ui")}

# Inside the services: which domain package (or module) may import which. No cycles: each only looks down.
SERVICE_DEPS: dict[str, set[str]] = {
    "writes": set(),
    "owners": set(),
    "system": set(),
    "events": {"writes"},
    "tasks": {"writes", "owners"},
    "projects": {"writes", "tasks"},
    "timeline": {"writes", "owners"},
    "agents": {"projects", "tasks"},
    "transfer": {"writes"},
    "worktrees": {"writes", "owners", "projects", "tasks", "timeline"},
    "sessions": {"writes", "owners", "projects", "tasks", "timeline", "agents", "worktrees"},
    "orchestration": {"writes", "owners", "projects", "tasks", "timeline", "sessions", "worktrees", "events"},
    "runtime": {"events", "sessions", "worktrees", "orchestration"},
}
# Only these domains run programs in terminals.
TERMINAL_USERS = {"sessions", "runtime"}


def layer_of(module: str) -> str:
    if module.startswith("ui"):
        return "ui"
    for prefix, layer in (
        ("app.terminals", "terminals"),
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


def service_unit(module: str) -> str | None:
    """`tasks` for app.services.tasks.queries; None for app.services itself."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["app", "services"] else None


def test_service_domains_only_look_down():
    assert set(SERVICE_DEPS) == {service_unit(m) for m, _ in modules() if service_unit(m)}, "a domain is missing"
    for module, path in modules():
        unit = service_unit(module)
        if unit is None or layer_of(module) != "services":
            continue
        for target in imports_of(path, module):
            other = service_unit(target)
            if other is not None and other != unit:
                assert other in SERVICE_DEPS[unit], f"{module} must not import {target} ({unit} -> {other})"
            if target.startswith("app.terminals"):
                assert unit in TERMINAL_USERS, f"{module} must not import the pty host"


DOC_LAYERS = {"launcher": "server"}  # the doc's name for a layer, where it differs from the test's
LAYER_MODULES = {
    "bottom": BOTTOM,
    "terminals": {"app.terminals"},
    "db": {"app.db"},
    "services": {"app.services"},
    "web": {"app.web"},
    "ui": {"ui"},
    "cli": {"app.cli"},
    "server": {"app.server"},
}


def documented_table() -> dict[str, tuple[str, str, str]]:
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Layers and the dependency rule", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("layer", "---"):
            rows[DOC_LAYERS.get(cells[0], cells[0])] = (cells[1], cells[2], cells[3])
    return rows


def test_the_architecture_doc_states_the_enforced_table():
    rows = documented_table()
    assert set(rows) == set(RULES)
    for layer, (modules_cell, may_cell, must_not_cell) in rows.items():
        allowed_prefixes, forbidden = RULES[layer]
        assert set(re.findall(r"`([a-z_.]+)`", modules_cell)) == LAYER_MODULES[layer], layer
        assert set(re.findall(r"[a-z]+", re.sub(r"\(.*?\)", "", must_not_cell))) == forbidden, layer
        may = re.sub(r"\(.*?\)", "", may_cell)
        named = {w for w in re.findall(r"[a-z]+", may) if w in LAYER_MODULES} | set(re.findall(r"`([a-z_.]+)`", may))
        documented = set().union(*(LAYER_MODULES.get(n, {n}) for n in named)) | LAYER_MODULES[layer]
        assert documented == allowed_prefixes, (layer, documented ^ allowed_prefixes)
