"""Writes what TensorFlow computes for every bundled spec, for tests/test_backends.py to compare with under JAX and PyTorch:
FOLDER/NAME.keras (the practice model with random weights, saved by TensorFlow) and FOLDER/NAME.npz (the
inputs and TensorFlow's outputs). CI runs it in the TensorFlow environment:

    python tests/tf_reference.py FOLDER
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conftest import SPECS, compiled, spec_id  # noqa: E402
from evaluator import load, random_inputs  # noqa: E402

EXTRA = 40  # steps past the window


def write(folder: str) -> list[str]:
    import keras

    assert keras.backend.backend() == "tensorflow", "the reference is TensorFlow's"
    os.makedirs(folder, exist_ok=True)
    names = []
    for path in SPECS:
        practice, model = compiled(path)
        x = random_inputs(load(path), practice.analysis.window + EXTRA, seed=11)
        arrays = x if isinstance(x, list) else [x]
        y = np.asarray(model(x))
        name = spec_id(path)
        model.save(os.path.join(folder, name + ".keras"))
        np.savez(os.path.join(folder, name + ".npz"), y=y, **{f"x{i}": a for i, a in enumerate(arrays)})
        names.append(name)
    return names


if __name__ == "__main__":
    print(f"wrote TensorFlow's results for {len(write(sys.argv[1]))} specs in {sys.argv[1]}")
