"""Keras layers that bring every model input to the step rate (`convert.kinds.input`): a hop input's
frames repeated, a global vector broadcast, a categorical input's one-hot vectors, and zero padding of
any input in front (the exact warm-up). Registered, so saved models load in safe mode."""

from __future__ import annotations

import keras
from keras import ops
from convert.core.errors import BadValue


def _positive(key: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BadValue(f"`{key}` must be an integer >= {low}; received {value!r}")
    return value


@keras.saving.register_keras_serializable(package="causalc")
class HopRepeat1D(keras.layers.Layer):
    """[frames (batch, F, ...), signal (batch, T, ...)] -> (batch, T, ...): step t takes frame (t+1) // hop,
    the frame of the step its output predicts. A prediction past the last frame (only the last step's, when
    the frames end with the signal) takes the last frame."""

    def __init__(self, hop: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.hop = _positive("hop", hop)

    def call(self, inputs):
        frames, signal = inputs
        steps = ops.arange(1, ops.shape(signal)[1] + 1, dtype="int32") // self.hop
        return ops.take(frames, ops.minimum(steps, ops.shape(frames)[1] - 1), axis=1)

    def compute_output_shape(self, input_shape):
        frames, signal = input_shape
        return (frames[0], signal[1]) + tuple(frames[2:])

    def get_config(self):
        return {**super().get_config(), "hop": self.hop}


@keras.saving.register_keras_serializable(package="causalc")
class Broadcast1D(keras.layers.Layer):
    """A vector per sequence (batch, ...) at every position: (batch, length, ...). The length is the
    signal's (a second input), or `length` when given (the per-step model's window)."""

    def __init__(self, length: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.length = None if length is None else _positive("length", length)

    def call(self, inputs):
        vector, length = (inputs, self.length) if self.length else (inputs[0], ops.shape(inputs[1])[1])
        expanded = ops.expand_dims(vector, 1)
        return ops.repeat(expanded, length, axis=1)

    def compute_output_shape(self, input_shape):
        if self.length:
            return (input_shape[0], self.length) + tuple(input_shape[1:])
        vector, signal = input_shape
        return (vector[0], signal[1]) + tuple(vector[1:])

    def get_config(self):
        return {**super().get_config(), "length": self.length}


@keras.saving.register_keras_serializable(package="causalc")
class OneHot1D(keras.layers.Layer):
    """Integer categories (batch, ...) -> their one-hot vectors (batch, ..., categories), float32."""

    def __init__(self, categories: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.categories = _positive("categories", categories)

    def call(self, inputs):
        return ops.one_hot(ops.cast(inputs, "int32"), self.categories, dtype="float32")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.categories,)

    def get_config(self):
        return {**super().get_config(), "categories": self.categories}


@keras.saving.register_keras_serializable(package="causalc")
class PadSteps1D(keras.layers.Layer):
    """`steps` zeros (category 0 for an integer input) in front of a sequence of any rank >= 2."""

    def __init__(self, steps: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.steps = _positive("steps", steps, 0)

    def call(self, inputs):
        return ops.pad(inputs, [[0, 0], [self.steps, 0]] + [[0, 0]] * (len(inputs.shape) - 2))

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + self.steps
        return (input_shape[0], length) + tuple(input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "steps": self.steps}
