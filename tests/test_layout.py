"""The package's layout: which room may import which (lazy imports inside functions count), and the
TensorFlow boundary: only the backends, the runtime, the measures, the custom Keras layers and the public
names that re-export them import TensorFlow or Keras; everything else (lint, explain, schema, the analysis
and the lowering) runs without them. No TensorFlow needed here."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from conftest import BLOCK_TENSORFLOW, ROOT

PACKAGE = os.path.join(ROOT, "convert")
TENSORFLOW_SIDE = ("convert/backends/", "convert/runtime/", "convert/bench/", "convert/layers/", "convert/edge_layers.py",
                   "convert/input_layers.py", "convert/api.py", "convert/stream.py", "convert/data.py")

# Each room of convert/ (a sub-package or a top-level module) and the rooms it may import: every room only
# rooms below it, so no two rooms import each other. docs/architecture.md shows the same table.
ROOMS = {
    "core": (),  # the error base, source locations, diagnostics and their codes, limits
    "ir": ("core",),  # lowered graphs and exact-'same' edge plans: data every later pass reads
    "kinds": ("core", "ir"),  # one module per layer kind; the contexts the lowering gives them
    "frontend": ("core", "ir", "kinds"),  # YAML with locations, the spec IR and its checks, formats, schema
    "analysis": ("core", "ir", "kinds", "frontend"),  # time arithmetic, hints, limits, the 'same' plan
    "lowering": ("core", "ir", "kinds", "frontend", "analysis"),  # practice, per-step, exact 'same' graphs
    "views": ("core", "ir", "kinds", "frontend", "analysis", "lowering"),  # explain, draw
    "layers": ("core", "ir"),  # every Keras layer causalc registers
    "backends": ("core", "ir", "kinds", "frontend", "analysis", "lowering", "layers"),  # Keras model, source, map
    "pipeline": ("core", "frontend", "analysis", "lowering", "backends"),  # the pass lists
    "importers": ("core", "ir", "kinds", "frontend", "analysis", "pipeline"),  # models from elsewhere to specs
    "deploy": ("core",),  # the exported step's manifest and the loop that runs it with ONNX Runtime or LiteRT
    "runtime": ("core", "ir", "kinds", "frontend", "analysis", "lowering", "layers", "backends", "pipeline",
                "importers", "deploy"),  # running compiled models: stream, generation, export, training
    "bench": ("core", "frontend", "analysis", "lowering", "pipeline", "runtime"),  # measures for bench
    "api": ("core", "importers", "runtime"),  # public facades
    "stream": ("runtime",),
    "data": ("runtime",),
    "cli": ("core", "ir", "kinds", "frontend", "analysis", "lowering", "views", "backends", "pipeline",
            "importers", "runtime", "bench", "deploy"),  # thin commands
    "__main__": ("cli",),
    "__init__": ("layers",),  # registers the Keras layers when Keras loads
    "edge_layers": ("layers",),  # shims: module names saved models and generated sources use
    "input_layers": ("layers",),
}
HEAVY = ("tensorflow", "keras", "jax", "tf2onnx", "onnx", "onnxruntime", "ai_edge_litert")


def _modules():
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                yield os.path.relpath(path, ROOT).replace(os.sep, "/"), path


def _heavy_imports(tree: ast.AST):
    """(line, module, enclosing function or None) of every tensorflow/keras import."""
    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            modules = []
            if isinstance(child, ast.Import):
                modules = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module:
                modules = [child.module]
            for module in modules:
                if module.split(".")[0] in HEAVY:
                    yield child.lineno, module, function
            yield from visit(child, name)
    yield from visit(tree, None)


def test_only_the_tensorflow_side_imports_tensorflow():
    offenders = []
    for relative, path in _modules():
        if relative.startswith(TENSORFLOW_SIDE):
            continue
        for line, module, function in _heavy_imports(ast.parse(open(path).read())):
            # the ops' streaming rules (and their helpers) run inside the stream, which has TensorFlow
            if relative == "convert/kinds/ops.py" and function is not None:
                continue
            # ONNX import reads files with the onnx package (no TensorFlow), only when asked to
            if relative.startswith("convert/importers/onnx_") and function is not None and module == "onnx" or \
                    module.startswith("onnx.") and relative.startswith("convert/importers/onnx_") and function:
                continue
            # the step's runner runs with ONNX Runtime or LiteRT (never TensorFlow), imported when asked for
            if relative == "convert/deploy/runner.py" and function is not None and module.split(".")[0] in (
                    "onnxruntime", "ai_edge_litert"):
                continue
            offenders.append(f"{relative}:{line} imports {module}")
    assert offenders == []


BLOCKED = BLOCK_TENSORFLOW + """
import importlib, pkgutil, convert
skip = ('convert.backends', 'convert.runtime', 'convert.bench', 'convert.layers', 'convert.edge_layers', 'convert.input_layers',
        'convert.api', 'convert.stream', 'convert.data', 'convert.__main__')
names = [m.name for m in pkgutil.walk_packages(convert.__path__, 'convert.') if not m.name.startswith(skip)]
for name in names:
    importlib.import_module(name)
from convert.pipeline import check
from convert.lowering import lower, per_step_graph
from convert.views.explain import explain_text
analysis = check('specs/wavenet.yaml').analysis
lower(analysis, 'exact'); per_step_graph(analysis); explain_text(analysis)
print(len(names))
"""


def test_the_tensorflow_free_side_runs_without_tensorflow():
    result = subprocess.run([sys.executable, "-c", BLOCKED], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 20  # every front-end, kind, analysis, lowering and CLI module


def test_convert_layers_stays_importable_for_generated_sources():
    import importlib.util

    assert importlib.util.find_spec("convert.layers") is not None
    tree = ast.parse(open(os.path.join(PACKAGE, "layers", "causal.py")).read())
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {"DilatedCausalPooling1D", "Subsample1D"} <= classes


def _room(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _imports(path: str, module: str):
    """Every convert module `path` imports, at module level or inside a function, relative imports resolved."""
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        yield from (name for name in names if name.startswith("convert."))


def test_every_room_imports_only_the_rooms_below_it():
    modules = {}
    for relative, path in _modules():
        module = relative[:-3].replace("/", ".").removesuffix(".__init__")
        modules[module] = path
    rooms = {_room(module) for module in modules}
    assert rooms == set(ROOMS), f"rooms without a line in ROOMS, or lines without a room: {rooms ^ set(ROOMS)}"
    wrong = []
    for module, path in modules.items():
        for name in _imports(path, module):
            target = next((m for m in (name, name.rsplit(".", 1)[0]) if m in modules), None)
            if target in (None, "convert") or _room(target) == _room(module):  # the root: only its __version__
                continue
            if _room(target) not in ROOMS[_room(module)]:
                wrong.append(f"{module} imports {target} ({_room(module)} may import {ROOMS[_room(module)]})")
    assert wrong == []


def test_the_room_table_has_no_cycle():
    order, seen = [], set()

    def visit(room, path):
        assert room not in path, f"rooms import each other: {' -> '.join(path + (room,))}"
        if room not in seen:
            for below in ROOMS[room]:
                visit(below, path + (room,))
            seen.add(room)
            order.append(room)
    for room in ROOMS:
        visit(room, ())
    assert len(order) == len(ROOMS)


def test_at_most_eight_top_level_modules():
    top = sorted(name for name in os.listdir(PACKAGE) if name.endswith(".py"))
    assert len(top) <= 8, top


def test_every_mutant_still_applies():
    """tests/mutants.py plants bugs by text: after code moves, each text must still stand once."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "mutants.py"), "--check"], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stdout


def test_every_exception_class_derives_from_the_one_error_base():
    """One error base: every exception class causalc defines has CausalcError above it (read from the
    code, so modules that need TensorFlow count too)."""
    import builtins

    exceptions = {name for name, value in vars(builtins).items()
                  if isinstance(value, type) and issubclass(value, BaseException)}
    classes = {}  # name -> base names, over the whole package
    for _, path in _modules():
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, set()).update(
                    base.id if isinstance(base, ast.Name) else base.attr for base in node.bases
                    if isinstance(base, (ast.Name, ast.Attribute)))
    based, errors, changed = {"CausalcError"}, set(), True
    while changed:
        changed = False
        for name, bases in classes.items():
            if name not in errors and bases & (exceptions | errors | {"ClickException"}):
                errors.add(name)
                changed = True
            if name not in based and bases & based:
                based.add(name)
                changed = True
    assert "CausalcError" in errors and len(errors) > 10
    assert sorted(errors - based) == []
