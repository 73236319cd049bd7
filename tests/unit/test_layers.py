"""Dependencies point one way: resources -> services -> stores / scoring -> db.

Read from the source (``ast``), so a violation fails here rather than in review.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "omlsvc"
REST = PACKAGE / "rest"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def _id(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


@pytest.mark.parametrize("path", [p for p in MODULES if REST not in p.parents], ids=_id)
def test_only_the_rest_transport_imports_falcon(path: Path) -> None:
    assert not {m for m in imports_of(path) if m == "falcon" or m.startswith("falcon.")}


@pytest.mark.parametrize("path", [p for p in MODULES if p.name == "store.py"], ids=_id)
def test_stores_import_no_services_or_resources(path: Path) -> None:
    upward = {m for m in imports_of(path) if m.endswith((".service", ".resources")) or m == "omlsvc.app"}
    assert not upward


@pytest.mark.parametrize("path", [p for p in MODULES if p.name == "service.py"], ids=_id)
def test_services_import_no_resources(path: Path) -> None:
    assert not {
        m for m in imports_of(path) if m.endswith(".resources") or m in ("omlsvc.app", "omlsvc.rest.web")
    }


SCORING_CORE = [p for p in (PACKAGE / "scoring").glob("*.py") if p.name not in ("service.py", "resources.py")]


@pytest.mark.parametrize("path", SCORING_CORE, ids=_id)
def test_the_scoring_core_knows_nothing_of_sql_or_http(path: Path) -> None:
    forbidden = ("sqlalchemy", "falcon", "omlsvc.db", "omlsvc.auth", "omlsvc.deployment")
    assert not {m for m in imports_of(path) if m.startswith(forbidden)}


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if p.name in ("signature.py", "errors.py", "config.py", "config_parsers.py")],
    ids=_id,
)
def test_shared_vocabulary_imports_nothing_of_ours_but_itself(path: Path) -> None:
    ours = {m for m in imports_of(path) if m.startswith("omlsvc")}
    assert ours <= {"omlsvc"}


JOBS = sorted((PACKAGE / "jobs").glob("*.py"))


@pytest.mark.parametrize("path", JOBS, ids=_id)
def test_jobs_reach_users_and_models_through_their_services_not_their_stores(path: Path) -> None:
    foreign_stores = {
        m for m in imports_of(path) if m.endswith(".store") and not m.startswith("omlsvc.jobs.")
    }
    assert not foreign_stores


@pytest.mark.parametrize("path", JOBS, ids=_id)
def test_jobs_open_transactions_only_through_the_factory_they_are_given(path: Path) -> None:
    tree = ast.parse(path.read_text())
    built = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "UnitOfWork"
    ]
    assert not built


OPENAPI = PACKAGE / "openapi"
CAPABILITIES = ("auth", "repository", "deployment", "scoring", "jobs", "tasks", "oip")


@pytest.mark.parametrize("path", sorted(OPENAPI.glob("*.py")), ids=_id)
def test_the_openapi_package_stands_below_the_rest_transport_and_needs_no_database(path: Path) -> None:
    assert not {
        m for m in imports_of(path) if m.startswith(("omlsvc.rest", "omlsvc.db", "sqlalchemy", "falcon"))
    }


def test_the_error_table_imports_nothing_of_ours_but_the_errors() -> None:
    ours = {m for m in imports_of(OPENAPI / "error_table.py") if m.startswith("omlsvc")}
    assert ours <= {"omlsvc.core.errors"}


@pytest.mark.parametrize(
    "path", [p for p in MODULES if p.relative_to(PACKAGE).parts[0] in CAPABILITIES], ids=_id
)
def test_capabilities_build_no_documents(path: Path) -> None:
    assert not {m for m in imports_of(path) if m.startswith("omlsvc.openapi")}


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=_id)
def test_the_core_imports_nothing_of_ours_outside_the_core(path: Path) -> None:
    ours = {m for m in imports_of(path) if m.startswith("omlsvc")}
    assert all(m == "omlsvc.core" or m.startswith("omlsvc.core.") for m in ours)


# -- the house: transports on top, the wiring, capabilities side by side, the core and db below ----------

#: Floors from the top down: a module imports from its own floor or the floors below it, never above.
FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "transports",
        (
            "omlsvc.rest",
            "omlsvc.openapi",
            "omlsvc.client",
            "omlsvc.cli",
            "omlsvc.front",
            "omlsvc.wsgi",
            "omlsvc.gunicorn_conf",
            "omlsvc.accesslog",
        ),
    ),
    ("wiring", ("omlsvc.wiring", "omlsvc.metrics", "omlsvc.metric_writes")),
    ("capabilities", tuple(f"omlsvc.{name}" for name in CAPABILITIES)),
    (
        "core and db",
        (
            "omlsvc.core",
            "omlsvc.db",
            "omlsvc.config",
            "omlsvc.config_parsers",
            "omlsvc.private_files",
            "omlsvc",
        ),
    ),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(module: str) -> int:
    """The floor's index (0 is the top); the longest matching prefix decides."""
    best, floor = -1, -1
    for index, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            inside = module == prefix or (prefix != "omlsvc" and module.startswith(prefix + "."))
            if inside and len(prefix) > best:
                best, floor = len(prefix), index
    return floor


def our_imports(path: Path) -> set[str]:
    """The omlsvc modules a module imports (``from omlsvc.x import y`` names module ``omlsvc.x.y``
    when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("omlsvc"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("omlsvc"):
            found.add(node.module)
            for alias in node.names:
                candidate = PACKAGE.parent.joinpath(*f"{node.module}.{alias.name}".split("."))
                if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
                    found.add(f"{node.module}.{alias.name}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_every_module_stands_on_a_floor_and_imports_nothing_above_it(path: Path) -> None:
    own = floor_of(module_name(path))
    assert own >= 0, f"{module_name(path)} is on no floor: add it to FLOORS"
    above = {m for m in our_imports(path) if floor_of(m) < own}
    assert not above, f"{module_name(path)} ({FLOORS[own][0]}) imports from above: {sorted(above)}"


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_no_module_reaches_into_another_capabilitys_store(path: Path) -> None:
    name = module_name(path)
    foreign = {
        m
        for m in our_imports(path)
        if m.endswith(".store")
        and m.split(".")[1] in CAPABILITIES
        and not name.startswith(m.rsplit(".", 1)[0])
    }
    assert not foreign, f"{name} imports {sorted(foreign)}: call that capability's service instead"


def test_there_are_no_circles_between_modules() -> None:
    graph = {module_name(p): our_imports(p) - {module_name(p)} for p in MODULES}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as circle:
        pytest.fail(f"modules import each other in a circle: {' -> '.join(circle.args[1])}")
