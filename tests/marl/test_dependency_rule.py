"""The dependency direction envs -> marl <- algos is never broken (checked on the import statements)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"marl": {"envs", "algos"}, "envs": {"algos"}, "algos": {"envs"}}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_dependency_direction(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


SHARED_ENV_PACKAGES = {"particles"}  # code several environment families build on


def imported_env_packages(path: Path) -> set[str]:
    """The `envs.<package>` names a file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        names |= {m.split(".")[1] for m in modules if m.startswith("envs.") and m.count(".") >= 1}
    return names


def test_environment_families_import_only_themselves_and_shared_packages():
    offenders = {}
    for path in (ROOT / "envs").rglob("*.py"):
        parts = path.relative_to(ROOT / "envs").parts
        own = parts[0].removesuffix(".py")
        foreign = imported_env_packages(path) - {own} - SHARED_ENV_PACKAGES
        if foreign:
            offenders[str(path.relative_to(ROOT))] = sorted(foreign)
    assert offenders == {}
