"""Keras layers causalc does not compile, with the nearest thing it does: E113's help and `import`'s errors."""

from __future__ import annotations

# Keras layers people reach for that causalc does not compile, with the nearest thing it does
KERAS_EQUIVALENTS = {
    **{name: "causalc compiles 1-D networks: write the time axis as positions and the rest as channels, with Conv1D, "
             "DepthwiseConv1D or SeparableConv1D." for name in ("Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D")},
    **{name: "A recurrent layer already runs step by step; causalc compiles convolutional per-step networks "
             "(for the same memory, a dilated Conv1D stack)." for name in ("LSTM", "GRU", "SimpleRNN", "RNN")},
    **{name: "At inference it is the identity, as Dropout is: use `{type: Dropout, rate: ...}`." for name in
       ("GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization")},
    "Lambda": "Arbitrary code can be neither analysed nor loaded safely; write it as supported layers.",
    "TimeDistributed": "Dense already applies to every position: use Dense (or Conv1D with kernel_size 1).",
    "Normalization": "Use `{type: Rescaling, scale: 1/std, offset: -mean/std}` with the data's statistics.",
    "InputLayer": "The input is the top-level `input: {channels: ..., window: ...}`, not a layer.",
    "Conv1DTranspose": "Upsampling has no causal per-step form; use strided convolutions down, then Dense heads.",
    "UpSampling1D": "Upsampling has no causal per-step form; use strided convolutions down, then Dense heads.",
    "Reshape": "Flatten + Dense is the supported reshaping: it compiles to one dilated Conv1D.",
    "Permute": "Positions stay on axis 1 and channels on axis 2 in a per-step spec.",
}
