"""The process boundary is a folder boundary: what each room of deployments/ may import.

| room                     | runs in          | never imports                                 |
| ------------------------ | ---------------- | --------------------------------------------- |
| deployments/ (root)      | every process    | FastAPI/Starlette, torch, a subpackage (but   |
|                          |                  | app.py)                                       |
| deployments/ingress/     | ingress          | torch, transformers, deployments.models       |
| deployments/security/    | ingress          | FastAPI/Starlette, ingress / models           |
| deployments/models/      | model replicas   | FastAPI/Starlette, ingress / security         |
| deployments/autoscaling/ | Serve controller | torch, FastAPI/Starlette, the three rooms     |

Every import statement counts, at any depth (a function-local import too), and
``TYPE_CHECKING`` blocks as well: a rule broken only for type checkers is still a room
that knows too much. The ingress rule is also checked at run time, in a fresh interpreter
that imports every ingress and security module: torch must not be loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "deployments"

HTTP = ("fastapi", "starlette")
TORCH = ("torch", "transformers", "tokenizers", "sentence_transformers")
SUBPACKAGES = ("deployments.ingress", "deployments.security", "deployments.models")

# Root modules that are not rooms' shared code: the app binds every room together, and
# the examples are build scripts (`make models`), run in no serving process.
ROOT_EXEMPT = {"app.py"}

RULES: dict[str, tuple[str, ...]] = {
    "ingress": (*TORCH, "deployments.models"),
    "security": (*HTTP, "deployments.ingress", "deployments.models"),
    "models": (*HTTP, "deployments.ingress", "deployments.security"),
    # Policies run inside the Serve controller, which serves no HTTP and loads no model.
    "autoscaling": (*TORCH, *HTTP, *SUBPACKAGES),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module an import statement in ``path`` names (absolute, as we write them)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from deployments import ingress` imports a subpackage too.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        name
        for name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def room_modules(room: str) -> list[Path]:
    return sorted((PACKAGE / room).rglob("*.py"))


def root_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.glob("*.py") if p.name not in ROOT_EXEMPT)


@pytest.mark.parametrize("room", sorted(RULES))
def test_rooms_import_only_what_their_process_may(room: str) -> None:
    modules = room_modules(room)
    assert modules, f"deployments/{room}/ has no modules"
    broken = {module_name(p): found for p in modules if (found := violations(p, RULES[room]))}
    assert not broken, f"deployments/{room}/ imports what its process must not: {broken}"


def test_root_modules_import_no_framework_and_no_room() -> None:
    forbidden = (*HTTP, *TORCH, *SUBPACKAGES)
    broken = {module_name(p): found for p in root_modules() if (found := violations(p, forbidden))}
    assert not broken, f"deployments/*.py must be importable by every process: {broken}"


def test_every_module_lives_in_a_room() -> None:
    """A new folder under deployments/ must be given rules here, not slip past them."""
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {*RULES, "examples"}


def test_the_rule_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The checker itself, on a module that breaks the ingress rule in three ways."""
    module = tmp_path / "bad.py"
    module.write_text(
        "import torch.nn\n"
        "def later():\n"
        "    from deployments.models.runtime import pick_device\n"
        "    from deployments import models\n"
    )
    assert violations(module, RULES["ingress"]) == [
        "deployments.models",
        "deployments.models.runtime",
        "deployments.models.runtime.pick_device",
        "torch.nn",
    ]


IMPORT_EVERY_INGRESS_MODULE = """
import importlib, pkgutil, sys
import deployments.ingress, deployments.security
for package in (deployments.ingress, deployments.security):
    for found in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(found.name)
loaded = sorted(m for m in {TORCH} if m in sys.modules)
print(",".join(loaded))
"""


def test_the_ingress_process_never_loads_torch() -> None:
    """Transitively, through every dependency (Ray, FastAPI, pydantic...): an ingress
    replica that loads torch pays for nothing: importing torch and transformers' models
    took ~350 MB of memory and seconds of start-up on the 2-core box."""
    code = IMPORT_EVERY_INGRESS_MODULE.replace("{TORCH}", repr(TORCH))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"the ingress loaded {result.stdout.strip()}"
