"""Training helpers: the data pipelines, `causalc bench`, and training under MirroredStrategy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT

tf = pytest.importorskip("tensorflow")


def test_sequence_pairs_shift_the_target_by_one_step():
    from convert.runtime.data import sequence_pairs

    signal = np.arange(500, dtype=np.float32) / 500
    x, y = next(iter(sequence_pairs(signal, length=32, batch_size=3, seed=1)))
    assert x.shape == (3, 32, 1) and y.shape == (3, 32, 1)
    np.testing.assert_allclose(y[:, :-1].numpy(), x[:, 1:].numpy())
    np.testing.assert_allclose(y.numpy() - x.numpy(), 1 / 500, rtol=1e-4)
    levels = next(iter(sequence_pairs(np.sin(np.arange(500) / 9.0), 16, 2, target="mu-law", seed=0)))[1]
    assert levels.dtype == tf.int32 and levels.shape == (2, 16)
    assert 0 <= int(tf.reduce_min(levels)) and int(tf.reduce_max(levels)) <= 255


def test_window_pairs_are_the_per_step_chunks():
    from convert.runtime.data import window_pairs

    signal = np.arange(40, dtype=np.float32)
    batches = list(window_pairs(signal, window=4, batch_size=6, shuffle=False))
    x = np.concatenate([b[0].numpy() for b in batches])
    y = np.concatenate([b[1].numpy() for b in batches])
    assert x.shape == (36, 4, 1)
    np.testing.assert_array_equal(x[:, -1, 0] + 1, y[:, 0])  # the target is the sample after the window
    np.testing.assert_array_equal(x[5, :, 0], [5, 6, 7, 8])


@pytest.mark.slow
def test_bench_reports_every_figure(tmp_path):
    from convert.cli import main

    spec = os.path.join(ROOT, "specs", "dense-four.yaml")
    result = CliRunner().invoke(main, ["bench", spec, "--format", "json", "--repeats", "1", "--length", "64",
                                       "--window-batch", "8", "--plot", str(tmp_path / "speedup.png")],
                                env={"CAUSALC_BENCH_WINDOWS": "16,32"})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    training = report["training"]
    for method in ("practice", "per_step"):
        assert training[method]["predictions_per_second"] > 0
    assert training["speedup"] == pytest.approx(training["practice"]["predictions_per_second"] /
                                                training["per_step"]["predictions_per_second"])
    assert training["mac_ratio"] == pytest.approx(report["macs_per_prediction"]["per_step"] /
                                                  report["macs_per_prediction"]["practice"])
    assert report["inference"]["practice_gflops"] > 0 and report["inference"]["matmul_gflops"] > 0
    assert set(report["analysis"]) == {"100", "1000", "10000"}
    assert [row["window"] for row in report["speedup_by_window"]] == [16, 32]
    assert (tmp_path / "speedup.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from convert import api
from convert.runtime.data import sequence_pairs

spec = sys.argv[1]
signal = np.sin(np.arange(5000) / 7.0).astype("float32")
batches = list(sequence_pairs(signal, length=64, batch_size=8, seed=3).take(4))
keras.utils.set_random_seed(0)
initial = api.practice_model(spec).get_weights()

def losses(strategy):
    with strategy.scope():
        model = api.practice_model(spec)
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    model.set_weights(initial)
    dataset = tf.data.Dataset.from_tensor_slices((np.concatenate([b[0] for b in batches]),
                                                  np.concatenate([b[1] for b in batches]))).batch(8)
    return model.fit(dataset, epochs=3, verbose=0).history["loss"]

two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
print(json.dumps({"replicas": two.num_replicas_in_sync, "one": losses(tf.distribute.get_strategy()),
                  "two": losses(two)}))
"""


def test_mirrored_strategy_matches_one_device():
    spec = os.path.join(ROOT, "specs", "strided-stack.yaml")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", MIRRORED, spec], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["replicas"] == 2
    assert data["one"][-1] < data["one"][0]  # it trains
    np.testing.assert_allclose(data["two"], data["one"], rtol=1e-4)
