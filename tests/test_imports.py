"""Imports point one way: no cycle among sonogram's modules, exceptions at the bottom, Lightning only in the
engine, and the maths and inference modules load nothing they do not need."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sonogram"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """sonogram modules imported at module level (imports inside functions are deliberate and lazy)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sonogram"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("sonogram"))
    return names


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in top_level_imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    done, stack = set(), []

    def visit(node):
        if node in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(node):] + [node]))
        if node in done:
            return
        stack.append(node)
        for child in graph[node]:
            # a package's __init__ importing its own submodules is not a cycle through them
            if not child.startswith(node + "."):
                visit(child)
        stack.pop()
        done.add(node)

    for node in graph:
        visit(node)


def test_errors_import_nothing_from_sonogram():
    assert top_level_imports(PACKAGE / "errors.py") == set()


def test_lightning_is_imported_only_by_the_engine():
    for path in PACKAGE.rglob("*.py"):
        if "engine" in path.parts:
            continue
        text = path.read_text()
        assert "import lightning" not in text and "from lightning" not in text, path


@pytest.mark.parametrize("module, forbidden", [
    ("sonogram.features.functional", ["soundfile", "soxr", "sonogram.data", "lightning", "matplotlib"]),
    ("sonogram.inference.predictor", ["torch", "lightning", "matplotlib", "librosa", "sklearn", "tensorboard"]),
    ("sonogram.serve.app", ["torch", "lightning", "matplotlib"]),
    ("sonogram", ["torch", "lightning", "soundfile"]),
])
def test_light_imports_stay_light(module, forbidden):
    code = f"import sys, json, {module}; print(json.dumps(sorted(m for m in {forbidden!r} if m in sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    assert loaded == [], f"importing {module} loaded {loaded}"


def test_the_cli_parser_and_serve_help_need_no_torch():
    """A serve-only install has no torch: every sub-command's arguments must still parse (issue 12's promise)."""
    code = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'")
sys.meta_path.insert(0, NoTorch())
from sonogram.cli import build_parser
build_parser().parse_args(["serve", "model.onnx"])
from sonogram.data import LOADERS
print("ok", sorted(LOADERS)[0])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr


def test_the_data_package_still_gives_the_cache_on_first_use():
    from sonogram import data
    from sonogram.data import cache

    assert data.build_cache is cache.build_cache and data.WaveformSpec is cache.WaveformSpec
    with pytest.raises(AttributeError):
        data.no_such_name  # noqa: B018
