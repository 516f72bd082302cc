"""Fuzzing the front end (no TensorFlow): mutated, truncated and random specs never raise, and every
invalid one gets at least one located error. The tests below run over 2,000 cases in all."""

from __future__ import annotations

import copy
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SPECS
from convert.pipeline import check

TEXTS = [open(path, encoding="utf-8").read() for path in SPECS]
DICTS = [yaml.safe_load(text) for text in TEXTS]
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)

scalars = st.one_of(
    st.integers(), st.integers(-3, 3), st.sampled_from([0, -1, 2**31, 2**63, 10**12, 10**100]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=12), st.sampled_from(["same", "causal", "valid", "relu", "input", "1e-3", "yes", "010", "Conv1D"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                             max_size=3), max_leaves=8)


def _places(tree, out):
    """Every (container, key) in a spec tree."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in items:
        out.append((tree, key))
        _places(value, out)
    return out


def _assert_checked(tmp_path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    result = check(str(path))  # must not raise
    errors = [d for d in result.diagnostics if d.is_error]
    if not result.ok:
        assert errors, result.diagnostics
    for d in result.diagnostics:
        assert d.span.path == str(path) and d.span.line >= 1 and d.span.column >= 1
        assert d.message and d.help


@settings(FUZZ, max_examples=250)
@given(data=st.data())
def test_mutated_specs(tmp_path, data):
    _mutated(tmp_path, data)


@pytest.mark.slow
@settings(FUZZ, max_examples=2000)
@given(data=st.data())
def test_many_mutated_specs(tmp_path, data):
    _mutated(tmp_path, data)


def _mutated(tmp_path, data):
    spec = copy.deepcopy(data.draw(st.sampled_from(DICTS)))
    for _ in range(data.draw(st.integers(1, 3))):
        places = _places(spec, [])
        container, key = data.draw(st.sampled_from(places))
        action = data.draw(st.sampled_from(["delete", "rename", "replace", "replace"]))
        if action == "delete":
            del container[key]
        elif action == "rename" and isinstance(container, dict):
            container[data.draw(st.text(max_size=10))] = container.pop(key)
        else:
            container[key] = data.draw(values)
        if not spec:
            break
    try:
        text = yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError):  # e.g. a float YAML cannot represent
        return
    _assert_checked(tmp_path, text.encode("utf-8"))


@settings(FUZZ, max_examples=500)
@given(text=st.sampled_from(TEXTS), cut=st.floats(0, 1), junk=st.sampled_from(["", "\n", ":", "- [", "{", "\t", "'"]))
def test_truncated_specs(tmp_path, text, cut, junk):
    _assert_checked(tmp_path, (text[: math.floor(len(text) * cut)] + junk).encode("utf-8"))


@settings(FUZZ, max_examples=400)
@given(tree=values)
def test_random_yaml(tmp_path, tree):
    try:
        text = yaml.safe_dump(tree, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return
    _assert_checked(tmp_path, text.encode("utf-8"))


@settings(FUZZ, max_examples=300)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes(tmp_path, data):
    _assert_checked(tmp_path, data)
