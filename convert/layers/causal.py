"""Keras layers and activations the practice model needs and Keras lacks: dilated causal pooling (computed
by a doubling tree), causal depthwise and separable convolutions, subsampling, every window of a sequence
and back (per-window evaluation inside a practice model), and the `square` and `log` activations of EEG
networks. All are registered, so saved models load in safe mode."""

from __future__ import annotations

import keras
from keras import ops
from convert.core.errors import BadValue


def tree_pool(inputs, pool_type: str, pool_size: int, dilation: int, causal: bool):
    """Max or average over steps t, t - d, ..., t - (p-1)d of (batch, T, c), by a doubling tree: level j pools
    2**j taps from two halves of level j - 1, and the pool of p taps combines the levels of p's set bits at
    consecutive offsets: O(log p) operations per step. Causal: zeros before the sequence, T steps out;
    otherwise (p-1)d steps fewer."""
    reach = (pool_size - 1) * dilation
    if reach == 0:
        return inputs
    if causal:
        padded = ops.pad(inputs, [[0, 0], [reach, 0], [0, 0]])
        length = ops.shape(inputs)[1]
    else:
        padded = inputs
        length = ops.shape(inputs)[1] - reach
    combine = ops.maximum if pool_type == "max" else ops.add
    step, level, size, offset, out = dilation, padded, 1, 0, None
    remaining = pool_size
    while True:
        if remaining & 1:
            part = level[:, offset * step: offset * step + length, :]
            out = part if out is None else combine(out, part)
            offset += size
        remaining >>= 1
        if not remaining:
            break
        level = combine(level[:, : -size * step, :], level[:, size * step:, :])
        size *= 2
    return out if pool_type == "max" else out / float(pool_size)


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
            raise BadValue(f"`pool_type` must be 'max' or 'avg'; received {pool_type!r}")
        if padding not in ("causal", "valid"):
            raise BadValue(f"`padding` must be 'causal' or 'valid'; received {padding!r}")
        for key, value in (("pool_size", pool_size), ("dilation_rate", dilation_rate)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadValue(f"`{key}` must be a positive integer; received {value!r}")
        self.pool_type = pool_type
        self.pool_size = pool_size
        self.dilation_rate = dilation_rate
        self.padding = padding
        self.input_spec = keras.layers.InputSpec(ndim=3)

    @property
    def reach(self) -> int:
        return (self.pool_size - 1) * self.dilation_rate

    def call(self, inputs):
        return tree_pool(inputs, self.pool_type, self.pool_size, self.dilation_rate, self.padding == "causal")

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
class ChannelPReLU(keras.layers.Layer):
    """max(x, 0) + alpha * min(x, 0) with one alpha per channel (the last axis), whatever the rank: the
    practice form of a PReLU shared by every position (sequences, and the exact 'same' model's slots)."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = keras.initializers.get(alpha_initializer)
        self.alpha_regularizer = keras.regularizers.get(alpha_regularizer)
        self.alpha_constraint = keras.constraints.get(alpha_constraint)

    def build(self, input_shape):
        self.alpha = self.add_weight(name="alpha", shape=(input_shape[-1],), initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)

    def call(self, inputs):
        return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(alpha_initializer=keras.initializers.serialize(self.alpha_initializer),
                      alpha_regularizer=keras.regularizers.serialize(self.alpha_regularizer),
                      alpha_constraint=keras.constraints.serialize(self.alpha_constraint))
        return config


@keras.saving.register_keras_serializable(package="causalc")
class ChannelGroupNormalization(keras.layers.Layer):
    """Each position's channels in `groups` groups, each group normalised over its own channels (the last
    axis only): a per-step GroupNormalization over a tensor of one position, at every time step."""

    def __init__(self, groups=32, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.groups, self.epsilon, self.center, self.scale = groups, epsilon, center, scale
        self.objects = {"beta_initializer": keras.initializers.get(beta_initializer),
                        "gamma_initializer": keras.initializers.get(gamma_initializer),
                        "beta_regularizer": keras.regularizers.get(beta_regularizer),
                        "gamma_regularizer": keras.regularizers.get(gamma_regularizer),
                        "beta_constraint": keras.constraints.get(beta_constraint),
                        "gamma_constraint": keras.constraints.get(gamma_constraint)}

    def build(self, input_shape):
        channels = input_shape[-1]
        o = self.objects
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer=o["gamma_initializer"],
                                     regularizer=o["gamma_regularizer"], constraint=o["gamma_constraint"]) \
            if self.scale else None
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer=o["beta_initializer"],
                                    regularizer=o["beta_regularizer"], constraint=o["beta_constraint"]) \
            if self.center else None

    def call(self, inputs):
        shape = ops.shape(inputs)
        channels = inputs.shape[-1]
        grouped = ops.reshape(inputs, (*shape[:-1], self.groups, channels // self.groups))
        mean = ops.mean(grouped, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(grouped - mean), axis=-1, keepdims=True)
        out = ops.reshape((grouped - mean) * ops.rsqrt(variance + self.epsilon), shape)
        if self.gamma is not None:
            out = out * self.gamma
        if self.beta is not None:
            out = out + self.beta
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(groups=self.groups, epsilon=self.epsilon, center=self.center, scale=self.scale)
        for key, value in self.objects.items():
            serialize = keras.initializers.serialize if key.endswith("initializer") else \
                keras.regularizers.serialize if key.endswith("regularizer") else keras.constraints.serialize
            config[key] = serialize(value)
        return config


@keras.saving.register_keras_serializable(package="causalc")
class Delay1D(keras.layers.Layer):
    """Output step t is input step t - `steps`: a per-step crop of the newest positions in practice form.
    With `padding="causal"` steps before the sequence are zeros and the output is as long as the input;
    with `padding="valid"` it is `steps` steps shorter (the input's oldest steps, as a valid layer's reach)."""

    def __init__(self, steps: int = 1, padding: str = "causal", **kwargs):
        super().__init__(**kwargs)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise BadValue(f"`steps` must be a non-negative integer; received {steps!r}")
        if padding not in ("causal", "valid"):
            raise BadValue(f"`padding` must be 'causal' or 'valid'; received {padding!r}")
        self.steps = steps
        self.padding = padding

    def call(self, inputs):
        if not self.steps:
            return inputs
        kept = inputs[:, : ops.shape(inputs)[1] - self.steps]
        return ops.pad(kept, [[0, 0], [self.steps, 0], [0, 0]]) if self.padding == "causal" else kept

    def compute_output_shape(self, input_shape):
        batch, length, channels = input_shape
        if self.padding == "valid" and length is not None:
            length -= self.steps
        return (batch, length, channels)

    def get_config(self):
        config = super().get_config()
        config.update(steps=self.steps, padding=self.padding)
        return config


@keras.saving.register_keras_serializable(package="causalc")
class Subsample1D(keras.layers.Layer):
    """Keeps every `stride`-th position from `start`: a strided layer's subsampling, or bringing a merge
    input to a coarser grid and the merge's width, in the per-step model."""

    def __init__(self, stride: int = 1, start: int = 0, **kwargs):
        super().__init__(**kwargs)
        for key, value in (("stride", stride), ("start", start)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "stride" else 0):
                raise BadValue(f"`{key}` must be a {'positive' if key == 'stride' else 'non-negative'} integer; "
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


class _Causal:
    """Adds causal padding to a Keras convolution that only has 'valid' and 'same': the input is padded on
    the left by the kernel's reach, then convolved unpadded. Weights are the parent's, unchanged."""

    def __init__(self, *args, padding: str = "causal", **kwargs):
        padding = str(padding).lower()
        if padding not in ("causal", "valid"):
            raise BadValue(f"`padding` must be 'causal' or 'valid'; received {padding!r}")
        super().__init__(*args, padding="valid", **kwargs)
        self.causal = padding == "causal"

    @property
    def reach(self) -> int:
        return (self.kernel_size[0] - 1) * self.dilation_rate[0]

    def call(self, inputs):
        if self.causal and self.reach:
            inputs = ops.pad(inputs, [[0, 0], [self.reach, 0], [0, 0]])
        return super().call(inputs)

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        return (shape[0], input_shape[1], shape[2]) if self.causal else shape

    def get_config(self):
        config = super().get_config()
        config["padding"] = "causal" if self.causal else "valid"
        return config


@keras.saving.register_keras_serializable(package="causalc")
class CausalDepthwiseConv1D(_Causal, keras.layers.DepthwiseConv1D):
    """Keras's DepthwiseConv1D with `padding="causal"`."""


@keras.saving.register_keras_serializable(package="causalc")
class CausalSeparableConv1D(_Causal, keras.layers.SeparableConv1D):
    """Keras's SeparableConv1D with `padding="causal"`."""


@keras.saving.register_keras_serializable(package="causalc")
class Windows1D(keras.layers.Layer):
    """Per-window evaluation inside the practice model: (batch, T, C) -> (batch * (T-W+1), W, C), the window
    ending at every step from W-1 on, for the per-step layers that follow (the warm-up steps before have no
    whole window: `Unwindows1D` gives them zeros)."""

    def __init__(self, window: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.window = window

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        frames = ops.stack([inputs[:, i: length - self.window + 1 + i] for i in range(self.window)], axis=2)
        return ops.reshape(frames, (-1, self.window, inputs.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (None, self.window, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["window"] = self.window
        return config


@keras.saving.register_keras_serializable(package="causalc")
class Unwindows1D(keras.layers.Layer):
    """The per-window outputs (batch * (T-W+1), [1,] units) back to (batch, T, units), zeros for the W-1
    warm-up steps; the second input is the sequence they came from."""

    def __init__(self, window: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.window = window

    def call(self, inputs):
        outputs, sequence = inputs
        shape = ops.shape(sequence)
        steps = ops.reshape(outputs, (shape[0], -1, outputs.shape[-1]))
        return ops.pad(steps, [[0, 0], [self.window - 1, 0], [0, 0]])

    def get_config(self):
        config = super().get_config()
        config["window"] = self.window
        return config

    def compute_output_shape(self, input_shape):
        outputs, sequence = input_shape
        return (sequence[0], sequence[1], outputs[-1])


@keras.saving.register_keras_serializable(package="causalc", name="square")
def square(x):
    """x ** 2, ShallowFBCSPNet's nonlinearity."""
    return ops.square(x)


@keras.saving.register_keras_serializable(package="causalc", name="safe_log")
def safe_log(x):
    """log(max(x, 1e-6)), braindecode's safe_log."""
    return ops.log(ops.maximum(x, 1e-6))
