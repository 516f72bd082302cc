"""Writes tests/fixtures/tcn/: models built and saved by keras-tcn's own code, with the outputs keras-tcn
computes for a random input, so that the default suite tests importing a TCN without keras-tcn.

    pip install --no-deps keras-tcn==3.5.7   # it asks for tensorflow-macos, which Linux has no use for
    .venv/bin/python tests/make_tcn_fixtures.py
"""

from __future__ import annotations

import os

import keras
import numpy as np
from tcn import TCN

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "tcn")
MODELS = {
    "tcn-skips-layernorm": dict(nb_filters=6, kernel_size=3, dilations=[1, 2, 4], nb_stacks=2,
                                use_skip_connections=True, return_sequences=True, use_layer_norm=True),
    "tcn-batchnorm-last": dict(nb_filters=[4, 6, 8], kernel_size=2, dilations=[1, 3, 5], use_skip_connections=False,
                               return_sequences=False, use_batch_norm=True, dropout_rate=0.2, activation="tanh"),
}


def main() -> None:
    os.makedirs(FOLDER, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, options in MODELS.items():
        x = keras.Input((None, 3))
        h = keras.layers.Dense(4, name="pre")(x)
        h = TCN(name="tcn", **options)(h)
        model = keras.Model(x, keras.layers.Dense(2, name="head")(h), name=stem.replace("-", "_"))
        for variable in model.weights:  # away from the initial values: statistics and gammas positive
            name = variable.path.split("/")[-1]
            low = name in ("moving_variance", "gamma")
            variable.assign(rng.uniform(0.5, 1.5, variable.shape) if low else rng.normal(0, 0.5, variable.shape))
        inputs = rng.normal(size=(2, 40, 3)).astype("float32")
        model.save(os.path.join(FOLDER, f"{stem}.keras"))
        np.savez(os.path.join(FOLDER, f"{stem}.npz"), x=inputs, y=np.asarray(model(inputs)))
        print(f"wrote {stem}: receptive field {model.get_layer('tcn').receptive_field}")


if __name__ == "__main__":
    main()
