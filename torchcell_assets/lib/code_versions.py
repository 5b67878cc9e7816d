"""Code versions that cannot go stale: an asset's code version is a digest of the source of its own module and of
every `torchcell_core` module that module reaches through its imports, found statically (nothing is imported).
Editing the curation, a parser or a model changes the version of the assets that run it, so they show as stale in
the UI and `lib/skip.py` rebuilds them instead of re-reporting an old result."""

import ast
import hashlib
from functools import cache
from pathlib import Path

TRACKED_PACKAGE = "torchcell_core"
PROJECT_PACKAGES = ("torchcell_core", "torchcell_assets")
ROOT = Path(__file__).resolve().parents[2]  # the folder holding both packages


@cache
def _module_file(name: str) -> Path | None:
    """The source file of project module `name` (a package's `__init__.py`), found on disk without importing
    anything; None for modules outside the project or names that are not modules (a class, a function)."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _submodules(package: str) -> list[str]:
    """Every module of `package` when it is a package (an explicit import of a package, such as the model
    registry's, may load all of them); [] for a plain module."""
    path = _module_file(package)
    if path is None or path.name != "__init__.py":
        return []
    names = (".".join(f.relative_to(ROOT).with_suffix("").parts) for f in path.parent.rglob("*.py"))
    return [name.removesuffix(".__init__") for name in names]


@cache
def _imports(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(modules, whole packages) that `path` imports, at module level or inside functions: `from p import m` counts
    module `p.m` when that is a module (and `p` itself); `import p` of a package counts every module in it, since a
    package may load them all (the model registry does)."""
    modules: set[str] = set()
    packages: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules.add(alias.name)
                if (found := _module_file(alias.name)) is not None and found.name == "__init__.py":
                    packages.add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            names = (f"{node.module}.{alias.name}" for alias in node.names)
            modules |= {name for name in names if _module_file(name)}
    return frozenset(modules), frozenset(packages)


@cache
def reached_modules(*modules: str) -> tuple[str, ...]:
    """`modules` and every `torchcell_core` module they reach through imports, sorted."""
    seen: set[str] = set()
    stack = list(modules)
    while stack:
        name = stack.pop()
        if name in seen or _module_file(name) is None:
            continue
        seen.add(name)
        imported, packages = _imports(_module_file(name))
        reached = set(imported) | {m for package in packages for m in _submodules(package)}
        stack.extend(m for m in reached if m.split(".")[0] == TRACKED_PACKAGE and m not in seen)
    return tuple(sorted(seen))


def code_version(module: str, *runs: str) -> str:
    """The code version of the assets defined in `module` that also run `runs` (modules started by name, such as a
    training child): 16 hex digits of the sha256 over the names and sources of what they reach; it changes when
    any of those files changes."""
    digest = hashlib.sha256()
    for name in reached_modules(module, *runs):
        digest.update(name.encode() + b"\0" + _module_file(name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]
