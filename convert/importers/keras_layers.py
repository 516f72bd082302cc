"""One Keras layer's configuration as a spec layer: the class mapping (Keras's layer classes, TimeDistributed
Dense, a practice model's causal convolutions) and, for what cannot be expressed, a fix phrased for the
model. TensorFlow-free: configurations are JSON."""

from __future__ import annotations

import re

from convert import kinds
from convert.core.errors import BadValue
from convert.kinds.equivalents import KERAS_EQUIVALENTS
from convert.kinds.fields import ACTIVATIONS, WEIGHT_ARGUMENTS


class ModelImportError(BadValue):
    """The model cannot be written as a spec: says which layer, its class, and what to do instead."""


# what to change in the model (not in a spec) when a layer class has no causalc kind
MODEL_FIXES = {
    **{name: "causalc reads 1-D networks (time, channels): rebuild it with Conv1D layers (a 2-D kernel of width 1 "
             "along one axis is a Conv1D over the other)" for name in ("Conv2D", "Conv3D", "DepthwiseConv2D",
                                                                       "SeparableConv2D")},
    **{name: "a recurrent layer already runs step by step; causalc reads convolutional networks" for name in
       ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional")},
    **{name: "it is the identity at inference: rebuild the model without it (or with Dropout) and copy the weights"
       for name in ("GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization")},
    "Lambda": "arbitrary code is refused without being run: rewrite it as Keras layers and save the model again",
    "Normalization": "replace it by Rescaling(1/std, offset=-mean/std) with its mean and variance",
    "Conv1DTranspose": "upsampling has no causal per-step form",
    "UpSampling1D": "upsampling has no causal per-step form",
    "Permute": "positions stay on axis 1 and channels on axis 2 in the networks causalc reads",
    "Reshape": "only Flatten (before a Dense) and reshapes between (batch, C) and (batch, 1, C) are read",
    "TimeDistributed": "only TimeDistributed(Dense) is read (a Dense applied at every position)",
}

CONVOLUTIONS = ("Conv1D", "DepthwiseConv1D", "SeparableConv1D")


def _first(value):
    return value[0] if isinstance(value, (list, tuple)) else value


def _activation(layer_name: str, value) -> str:
    if isinstance(value, dict):  # a registered function: causalc's own square and safe_log
        value = {"causalc>square": "square", "causalc>safe_log": "log"}.get(str(value.get("config")), value)
    if value not in ACTIVATIONS:
        raise ModelImportError(f"layer `{layer_name}`: activation {value!r} is not one causalc knows "
                               f"({', '.join(ACTIVATIONS)})")
    return value


DEFAULT_INITIALIZERS = {"kernel": "GlorotUniform", "depthwise": "GlorotUniform", "pointwise": "GlorotUniform",
                        "bias": "Zeros", "beta": "Zeros", "gamma": "Ones", "moving_mean": "Zeros",
                        "moving_variance": "Ones", "alpha": "Zeros"}


def _keras_object(key: str, value):
    """A serialized initializer, regularizer or constraint as a spec value; None when it is Keras's default."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    name, config = value.get("class_name"), {k: v for k, v in (value.get("config") or {}).items() if v is not None}
    weight = key.rsplit("_", 1)[0]
    if key.endswith("_initializer") and name == DEFAULT_INITIALIZERS.get(weight) and not config:
        return None
    return {"class_name": name, "config": config}


def fields(class_name: str, name: str, config: dict, practice_form: bool = False) -> dict:
    """A Keras layer's configuration as the kind's fields (values the kind's reader would give). In a
    practice-form model, causal padding is the per-step layer's valid padding."""
    kind = kinds.KINDS[class_name]
    if config.get("data_format", "channels_last") != "channels_last":
        raise ModelImportError(f"layer `{name}` ({class_name}): data_format must be channels_last")
    axis = config.get("axis")
    if axis is not None and _first(axis) not in (-1, 2):
        raise ModelImportError(f"layer `{name}` ({class_name}): axis {axis!r}; causalc works over channels (-1)")
    if config.get("rms_scaling") or config.get("synchronized") or config.get("noise_shape"):
        raise ModelImportError(f"layer `{name}` ({class_name}): rms_scaling, synchronized and noise_shape are not "
                               "supported")
    if class_name == "LeakyReLU" and "negative_slope" not in config and "alpha" in config:
        config = {**config, "negative_slope": config["alpha"]}  # tf.keras 2's name of the slope
    if class_name == "ReLU" and config.get("threshold") is not None and config["threshold"] < 0:
        raise ModelImportError(f"layer `{name}` (ReLU): a negative threshold; Keras refuses one too")
    values = {}
    for key in kind.own_fields:
        if key == "axis" or key not in config:
            continue
        value = config[key]
        if key in ("kernel_size", "strides", "dilation_rate", "pool_size"):
            value = _first(value)
        elif key == "activation":
            value = _activation(name, value)
        elif key.endswith(WEIGHT_ARGUMENTS):
            value = _keras_object(key, value)
        elif key == "padding" and class_name == "ZeroPadding1D":
            value = list(value) if isinstance(value, (list, tuple)) else [value, value]
        elif key == "padding":
            value = str(value).lower()
            if practice_form and value == "causal":
                value = "valid"
        values[key] = value
    if class_name in ("MaxPooling1D", "AveragePooling1D") and values.get("strides") is None:
        values["strides"] = values.get("pool_size")
    for key, field in kind.own_fields.items():  # absent: the spec's default, as the reader fills it
        if key not in values:
            values[key] = field.default_for(values) if field.default is not ... else None
    return values


def practice_form(entries: list) -> bool:
    """Whether a model is written in practice form: a convolution with causal padding (or keras-tcn's TCN)."""
    for entry in entries:
        config = entry.get("config") or {}
        if entry.get("class_name") == "TCN" or (entry.get("class_name") in CONVOLUTIONS and
                                                str(config.get("padding", "")).lower() == "causal"):
            return True
    return False


def _spans_one_step(class_name: str, values: dict) -> bool:
    size = values.get("kernel_size") or values.get("pool_size") or 1
    return size == 1 and (values.get("strides") or 1) == 1


def practice_problem(class_name: str, name: str, config: dict, values: dict) -> str | None:
    """Why a layer of a practice-form model has no per-step reading, or None: a practice model keeps every
    time step, so its windowed layers are causal and of stride 1, and nothing collapses the sequence."""
    padding = str(config.get("padding", "valid")).lower()
    if class_name in CONVOLUTIONS or class_name in ("MaxPooling1D", "AveragePooling1D"):
        if (values.get("strides") or 1) != 1 and not _spans_one_step(class_name, values):
            return (f"layer `{name}` ({class_name}): strides {values['strides']} in a practice-form model (causal "
                    "padding elsewhere); a practice model keeps every step: write the per-step model (with strides "
                    "and no causal padding) and import that")
        if padding != "causal" and not _spans_one_step(class_name, values):
            return (f"layer `{name}` ({class_name}): padding {padding!r} over more than one step in a practice-form "
                    "model; give it padding='causal' (as its other convolutions) or import the per-step model")
    if class_name in ("Flatten", "GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return (f"layer `{name}` ({class_name}) collapses the whole sequence, which a causal model of every step "
                "cannot do; import the per-step model (a fixed window) instead")
    return None


def unsupported(class_name: str, name: str) -> str:
    """The error for a layer class causalc does not read, with a fix for the model."""
    if class_name.startswith("Causal") or class_name == "DilatedCausalPooling1D":
        return (f"layer `{name}` ({class_name}) is causalc's own practice layer: import the per-step model "
                "(`causalc to-step` writes it)")
    fix = MODEL_FIXES.get(class_name)
    if fix is None:
        hint = KERAS_EQUIVALENTS.get(class_name)
        fix = hint or "causalc reads: " + ", ".join(sorted(kinds.KINDS)) + ", TimeDistributed(Dense), Reshape " \
                      "between (batch, C) and (batch, 1, C), InputLayer"
    return f"layer `{name}` ({class_name}) has no causalc kind: {fix}"


def inner_layer(entry: dict, name: str) -> tuple[str, dict]:
    """The (class, config) a TimeDistributed layer wraps, when it is a Dense; ModelImportError otherwise."""
    inner = (entry.get("config") or {}).get("layer")
    if not isinstance(inner, dict) or inner.get("class_name") != "Dense" or not isinstance(inner.get("config"), dict):
        wrapped = inner.get("class_name") if isinstance(inner, dict) else inner
        raise ModelImportError(f"layer `{name}` (TimeDistributed of {wrapped}): {MODEL_FIXES['TimeDistributed']}")
    return "Dense", inner["config"]


def config_of(entry: dict) -> dict:
    return entry.get("config") or {}


def _snake(name: str) -> str:
    """Keras's own snake_case of a class name (the names a `.keras` file stores layers under)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def container_names(entries: list) -> dict[str, str]:
    """Each layer's group in a `.keras` file's weights: `layers/` and its class in snake_case, numbered from
    the second of a class on (`dense`, `dense_1`, ...), in the model's layer order."""
    used: dict[str, int] = {}
    out = {}
    for entry in entries:
        base = _snake(str(entry.get("class_name", "")).split(">")[-1])
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        name = config_of(entry).get("name") or entry.get("name")
        out[name] = "layers/" + (base if count is None else f"{base}_{count + 1}")
    return out
