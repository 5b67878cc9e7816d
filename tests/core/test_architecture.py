"""The layering the project relies on: `torchcell_core` is a plain library (no Dagster, nothing from the assets
layer), so it can be used, tested and run under torchrun or SLURM without the orchestrator."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "torchcell_core"
FORBIDDEN = ("dagster", "dagster_pipes", "torchcell_assets")
# (lower layer, upper layer): nothing in the first package imports the second (issue 16's back-edges)
LAYERS = [
    ("torchcell_core.sources", "torchcell_core.networks"),  # network parsers build on the sources' rules
    ("torchcell_core.evaluation", "torchcell_core.datasets"),  # dataset cards use the evaluation's metrics
    ("torchcell_assets.lib", "torchcell_assets.defs"),  # the asset definitions use the library, not back
]


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module `path` imports (at module level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_neither_dagster_nor_the_assets_layer(path):
    found = imported_modules(path) & set(FORBIDDEN)
    assert not found, f"{path} imports {sorted(found)}: torchcell_core must stay free of the orchestrator"


def test_importing_every_core_module_loads_no_dagster():
    """The same, at run time: importing every module of the library pulls in no Dagster module."""
    script = (
        "import importlib, pkgutil, sys, torchcell_core\n"
        "for info in pkgutil.walk_packages(torchcell_core.__path__, 'torchcell_core.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'torchcell_assets')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", f"importing torchcell_core loaded {result.stdout.strip()}"


def imported_names(path: Path, package: str) -> list[tuple[str, int]]:
    """(dotted name, line) of every module or name `path` imports; `from a import b` gives `a` and `a.b`, relative
    imports are resolved against `package` (the module's own package)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(module, node.lineno), *((f"{module}.{alias.name}", node.lineno) for alias in node.names)]
    return found


def layer_violations(lower: str, upper: str, root: Path = ROOT) -> list[str]:
    """`file:line imports name` for each import of package `upper` (or anything in it) under package `lower`."""
    violations = []
    for path in sorted(root.joinpath(*lower.split(".")).rglob("*.py")):
        package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
        for name, line in imported_names(path, package):
            if name == upper or name.startswith(f"{upper}."):
                violations.append(f"{path.relative_to(root)}:{line} imports {name}")
    return violations


@pytest.mark.parametrize(("lower", "upper"), LAYERS, ids=[f"{a}-not-{b}" for a, b in LAYERS])
def test_a_lower_layer_never_imports_the_upper_one(lower, upper):
    assert layer_violations(lower, upper) == [], f"{lower} must not import {upper}"


def test_the_layer_check_finds_planted_imports_absolute_and_relative(tmp_path):
    package = tmp_path / "torchcell_core" / "sources"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "clean.py").write_text("from torchcell_core.networksx import y\nimport torchcell_core.sources.quality\n")
    (package / "planted.py").write_text(
        "import os\n\ndef f():\n    from torchcell_core import networks\n    from ..networks.biogrid import x\n"
    )
    assert layer_violations("torchcell_core.sources", "torchcell_core.networks", tmp_path) == [
        "torchcell_core/sources/planted.py:4 imports torchcell_core.networks",
        "torchcell_core/sources/planted.py:5 imports torchcell_core.networks.biogrid",
        "torchcell_core/sources/planted.py:5 imports torchcell_core.networks.biogrid.x",
    ]
