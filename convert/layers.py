"""Keras layers the practice model needs and Keras lacks: dilated causal pooling."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="causalc")
class DilatedCausalPooling1D(keras.layers.Layer):
    """Max or average pooling with stride 1, a dilation and causal (left zero) padding.

    Output step t pools input steps t, t - d, ..., t - (p-1)d. With `padding="causal"` steps before the
    sequence are zeros, as causal padding does for a convolution, and the output is as long as the input;
    with `padding="valid"` the output is (p-1)d steps shorter.
    """

    def __init__(self, pool_type: str = "max", pool_size: int = 2, dilation_rate: int = 1, padding: str = "causal",
                 **kwargs):
        super().__init__(**kwargs)
        pool_type = str(pool_type).lower()
        if pool_type not in ("max", "avg"):
            raise ValueError(f"`pool_type` must be 'max' or 'avg'; received {pool_type!r}")
        if padding not in ("causal", "valid"):
            raise ValueError(f"`padding` must be 'causal' or 'valid'; received {padding!r}")
        for key, value in (("pool_size", pool_size), ("dilation_rate", dilation_rate)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{key}` must be a positive integer; received {value!r}")
        self.pool_type = pool_type
        self.pool_size = pool_size
        self.dilation_rate = dilation_rate
        self.padding = padding
        self.input_spec = keras.layers.InputSpec(ndim=3)

    @property
    def reach(self) -> int:
        return (self.pool_size - 1) * self.dilation_rate

    def call(self, inputs):
        reach = self.reach
        if reach == 0:
            return inputs
        if self.padding == "causal":
            padded = ops.pad(inputs, [[0, 0], [reach, 0], [0, 0]])
            length = ops.shape(inputs)[1]
        else:
            padded = inputs
            length = ops.shape(inputs)[1] - reach
        step = self.dilation_rate
        taps = [padded[:, i * step: i * step + length, :] for i in range(self.pool_size)]
        combine = ops.maximum if self.pool_type == "max" else ops.add
        out = taps[0]
        for tap in taps[1:]:
            out = combine(out, tap)
        return out if self.pool_type == "max" else out / float(self.pool_size)

    def compute_output_shape(self, input_shape):
        batch, length, channels = input_shape
        if self.padding == "valid" and length is not None:
            length -= self.reach
        return (batch, length, channels)

    def get_config(self):
        config = super().get_config()
        config.update(pool_type=self.pool_type, pool_size=self.pool_size, dilation_rate=self.dilation_rate,
                      padding=self.padding)
        return config


@keras.saving.register_keras_serializable(package="causalc")
class Subsample1D(keras.layers.Layer):
    """Keeps every `stride`-th position from `start`: a strided layer's subsampling, or bringing a merge
    input to a coarser grid and the merge's width, in the per-step model."""

    def __init__(self, stride: int = 1, start: int = 0, **kwargs):
        super().__init__(**kwargs)
        for key, value in (("stride", stride), ("start", start)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "stride" else 0):
                raise ValueError(f"`{key}` must be a {'positive' if key == 'stride' else 'non-negative'} integer; "
                                 f"received {value!r}")
        self.stride = stride
        self.start = start
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def call(self, inputs):
        return inputs[:, self.start::self.stride, :]

    def compute_output_shape(self, input_shape):
        batch, length, channels = input_shape
        if length is not None:
            length = max(0, (length - self.start - 1) // self.stride + 1)
        return (batch, length, channels)

    def get_config(self):
        config = super().get_config()
        config.update(stride=self.stride, start=self.start)
        return config
