"""The TensorFlow boundary: only the backends, the runtime, the custom Keras layers and the public names
that re-export them import TensorFlow or Keras; everything else (lint, explain, schema, the analysis and
the lowering) runs without them. No TensorFlow needed here."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from conftest import BLOCK_TENSORFLOW, ROOT

PACKAGE = os.path.join(ROOT, "convert")
TENSORFLOW_SIDE = ("convert/backends/", "convert/runtime/", "convert/layers.py", "convert/edge_layers.py", "convert/input_layers.py", "convert/api.py", "convert/stream.py",
                   "convert/data.py")
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
            offenders.append(f"{relative}:{line} imports {module}")
    assert offenders == []


BLOCKED = BLOCK_TENSORFLOW + """
import importlib, pkgutil, convert
skip = ('convert.backends', 'convert.runtime', 'convert.layers', 'convert.edge_layers', 'convert.input_layers', 'convert.api', 'convert.stream', 'convert.data',
        'convert.__main__')
names = [m.name for m in pkgutil.walk_packages(convert.__path__, 'convert.') if not m.name.startswith(skip)]
for name in names:
    importlib.import_module(name)
from convert.pipeline import check
from convert.lower import lower, per_step_graph
from convert.report import explain_text
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
    tree = ast.parse(open(os.path.join(PACKAGE, "layers.py")).read())
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {"DilatedCausalPooling1D", "Subsample1D"} <= classes
