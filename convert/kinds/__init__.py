"""The registry of spec kinds: one module per kind holds everything about it (see `base.Kind`).

    KINDS["Conv1D"]            # the kind of a type name
    kind_of("MaxPool1D")       # aliases resolve to their kind
    register(MyKind())         # a new kind: one module plus its rule in the tests' evaluator

A type the registry does not know is an error at the spec's `type:`; code that meets an unregistered kind
after that raises UnknownKind, never treating it as a merge or an identity.
"""

from __future__ import annotations

from convert.core.errors import BadValue, InternalError
from convert.kinds.activation import Activation
from convert.kinds.activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from convert.kinds.base import Kind
from convert.kinds.conv import Conv1D
from convert.kinds.cropping import Cropping1D
from convert.kinds.dense import Dense
from convert.kinds.depthwise import DepthwiseConv1D, SeparableConv1D
from convert.kinds.dropout import Dropout, SpatialDropout1D
from convert.kinds.embedding import Embedding
from convert.kinds.flatten import Flatten
from convert.kinds.global_pool import GlobalAveragePooling1D, GlobalMaxPooling1D
from convert.kinds.merge import Add, Concatenate, Multiply
from convert.kinds.norm import BatchNormalization, GroupNormalization, LayerNormalization
from convert.kinds.padding import ZeroPadding1D
from convert.kinds.pool import AveragePooling1D, MaxPooling1D
from convert.kinds.rescaling import Rescaling

KINDS: dict[str, Kind] = {}
ALIASES: dict[str, str] = {}


class UnknownKind(InternalError, LookupError):
    """A layer type reached a pass without being registered: a bug in causalc, not in the spec."""


def register(kind: Kind) -> Kind:
    """Add a kind (replacing one of the same type); returns it."""
    if not kind.type:
        raise BadValue("a kind needs a `type`")
    KINDS[kind.type] = kind
    for alias in kind.aliases:
        ALIASES[alias] = kind.type
    return kind


def canonical(type_name: str) -> str:
    return ALIASES.get(type_name, type_name)


def kind_of(type_name: str) -> Kind:
    try:
        return KINDS[canonical(type_name)]
    except KeyError:
        raise UnknownKind(f"no kind is registered for layer type {type_name!r}") from None


for _kind in (Conv1D(), MaxPooling1D(), AveragePooling1D(), Flatten(), Dense(), Add(), Multiply(), Concatenate(),
              Activation(), BatchNormalization(), LayerNormalization(), Dropout(), SpatialDropout1D(),
              GlobalAveragePooling1D(), GlobalMaxPooling1D(), DepthwiseConv1D(), SeparableConv1D(), Rescaling(),
              ZeroPadding1D(), Embedding(), ReLU(), LeakyReLU(), ELU(), Softmax(), PReLU(), Cropping1D(), GroupNormalization()):
    register(_kind)
