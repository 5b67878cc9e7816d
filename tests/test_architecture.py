"""The layering the project relies on: `torchcell_core` is a plain library (no Dagster, nothing from the assets
layer), so it can be used, tested and run under torchrun or SLURM without the orchestrator."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "torchcell_core"
FORBIDDEN = ("dagster", "dagster_pipes", "torchcell_assets")


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
