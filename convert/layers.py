"""Keras layers the practice model needs and Keras lacks: dilated causal pooling."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="causalc")
class DilatedCausalPooling1D(keras.layers.Layer):
    """Max or average pooling with stride 1, a dilation and causal (left zero) padding.

    Output step t pools input steps t, t - d, ..., t - (p-1)d; steps before the sequence are zeros,
    which is what causal padding does for a convolution.
    """

    def __init__(self, pool_type: str = "max", pool_size: int = 2, dilation_rate: int = 1, **kwargs):
        super().__init__(**kwargs)
        pool_type = str(pool_type).lower()
        if pool_type not in ("max", "avg"):
            raise ValueError(f"`pool_type` must be 'max' or 'avg'; received {pool_type!r}")
        for key, value in (("pool_size", pool_size), ("dilation_rate", dilation_rate)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{key}` must be a positive integer; received {value!r}")
        self.pool_type = pool_type
        self.pool_size = pool_size
        self.dilation_rate = dilation_rate
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def call(self, inputs):
        reach = (self.pool_size - 1) * self.dilation_rate
        if reach == 0:
            return inputs
        padded = ops.pad(inputs, [[0, 0], [reach, 0], [0, 0]])
        length = ops.shape(inputs)[1]
        step = self.dilation_rate
        taps = [padded[:, i * step: i * step + length, :] for i in range(self.pool_size)]
        combine = ops.maximum if self.pool_type == "max" else ops.add
        out = taps[0]
        for tap in taps[1:]:
            out = combine(out, tap)
        return out if self.pool_type == "max" else out / float(self.pool_size)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(pool_type=self.pool_type, pool_size=self.pool_size, dilation_rate=self.dilation_rate)
        return config
