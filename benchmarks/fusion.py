"""Would fusing convolutions that read the same input with the same taps speed up the practice model?

Builds a 64-channel, 10-block WaveNet-style practice model twice in plain Keras: as causalc compiles it
(filter and gate, residual and skip as separate Conv1D layers) and fused by hand (one Conv1D of twice the
filters for filter and gate, one for residual and skip, then channel slices), and times the forward pass and
a training step (Adam, sparse cross-entropy, XLA) of each, twice, alternating.
Run: `python benchmarks/fusion.py` (TensorFlow needed).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from convert.bench.timing import median_seconds  # noqa: E402

BATCH, LENGTH, CHANNELS, BLOCKS, REPEATS = 4, 8192, 64, 10, 7


def build(fused: bool) -> keras.Model:
    x = keras.Input((None, 1))
    h, skips = keras.layers.Conv1D(CHANNELS, 1)(x), []
    for i in range(BLOCKS):
        if fused:
            both = keras.layers.Conv1D(2 * CHANNELS, 2, dilation_rate=2**i, padding="causal")(h)
            f = keras.layers.Activation("tanh")(both[..., :CHANNELS])
            g = keras.layers.Activation("sigmoid")(both[..., CHANNELS:])
        else:
            f = keras.layers.Conv1D(CHANNELS, 2, dilation_rate=2**i, padding="causal", activation="tanh")(h)
            g = keras.layers.Conv1D(CHANNELS, 2, dilation_rate=2**i, padding="causal", activation="sigmoid")(h)
        z = keras.layers.Multiply()([f, g])
        if fused:
            both = keras.layers.Conv1D(2 * CHANNELS, 1)(z)
            r, s = both[..., :CHANNELS], both[..., CHANNELS:]
        else:
            r, s = keras.layers.Conv1D(CHANNELS, 1)(z), keras.layers.Conv1D(CHANNELS, 1)(z)
        skips.append(s)
        h = keras.layers.Add()([h, r])
    y = keras.layers.Dense(256, activation="softmax")(keras.layers.ReLU()(keras.layers.Add()(skips)))
    return keras.Model(x, y)


def main() -> None:
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(BATCH, LENGTH, 1)).astype(np.float32))
    y = tf.constant(rng.integers(0, 256, (BATCH, LENGTH)).astype(np.int32))
    print(f"{os.cpu_count()} cores, TensorFlow {tf.__version__}; {CHANNELS} channels, {BLOCKS} blocks, "
          f"{BATCH} x {LENGTH} steps, medians of {REPEATS}")
    for _ in range(2):
        for fused in (False, True):
            model = build(fused)
            forward = tf.function(lambda v: model(v, training=False), jit_compile=True)
            forward(x).numpy()
            seconds = median_seconds(lambda: forward(x).numpy(), REPEATS)
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                          jit_compile=True)
            model.train_on_batch(x, y)
            training = median_seconds(lambda: model.train_on_batch(x, y), REPEATS)
            print(f"  {'fused by hand' if fused else 'as compiled':>13}: forward {BATCH * LENGTH / seconds:,.0f} predictions/s, "
                  f"training {BATCH * LENGTH / training:,.0f} predictions/s")


if __name__ == "__main__":
    main()
