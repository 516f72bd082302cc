"""convert.core.records against the standard library's frozen dataclasses, the behaviour it stands in for:
the same classes declared both ways give the same __init__ signatures, defaults, equality, hashes and
reprs, refuse assignment alike and copy alike with replace; and the IR classes made with it pickle and
cache as before."""

from __future__ import annotations

import dataclasses
import os
import pickle
from functools import cached_property

import pytest

from convert.core import records
from convert.core.errors import CausalcError
from convert.core.records import FrozenRecord, record, replace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def declare(decorator, field_):
    class Base:
        name: str
        size: int = 3

    Base = decorator(Base)

    class Item(Base):
        items: dict = field_(default_factory=dict, hash=False)
        note: str = field_(default="", compare=False, repr=False)
        shape: tuple = ()

        @cached_property
        def doubled(self) -> int:
            return 2 * self.size

    return decorator(Item)


Ours = declare(record, records.field)
Theirs = declare(dataclasses.dataclass(frozen=True), dataclasses.field)
Ours.__qualname__, Theirs.__qualname__ = "Ours", "Theirs"  # found by pickle under these names
CASES = [dict(name="a"), dict(name="a", size=4), dict(name="b", items={"k": 1}), dict(name="a", note="x"),
         dict(name="a", shape=(1, 2)), dict(name="a", size=4, items={"k": [1]}, note="y", shape=(3,))]


@pytest.mark.parametrize("a", range(len(CASES)))
@pytest.mark.parametrize("b", range(len(CASES)))
def test_records_compare_and_hash_as_frozen_dataclasses(a, b):
    ours = Ours(**CASES[a]), Ours(**CASES[b])
    theirs = Theirs(**CASES[a]), Theirs(**CASES[b])
    assert (ours[0] == ours[1]) == (theirs[0] == theirs[1])
    assert (ours[0] != ours[1]) == (theirs[0] != theirs[1])
    if ours[0] == ours[1]:
        assert hash(ours[0]) == hash(ours[1])  # equal records hash alike, the dict left out of the hash


def test_records_take_their_fields_in_order_with_defaults_and_show_them_as_dataclasses_do():
    assert [f.name for f in records.fields(Ours)] == [f.name for f in dataclasses.fields(Theirs)]
    ours, theirs = Ours("a", 5, {"k": 1}, "n", (1,)), Theirs("a", 5, {"k": 1}, "n", (1,))
    assert repr(ours) == repr(theirs).replace("Theirs", "Ours") == "Ours(name='a', size=5, items={'k': 1}, shape=(1,))"
    assert [getattr(Ours("a"), f.name) for f in records.fields(Ours)] == ["a", 3, {}, "", ()]
    assert Ours("a").items is not Ours("a").items  # a factory's value is made for each record
    with pytest.raises(TypeError):
        Ours()  # a field without a default must be given
    with pytest.raises(TypeError):
        Ours("a", 1, {}, "", (), "one too many")


def test_a_record_cannot_be_assigned_to_but_caches_and_copies():
    item = Ours("a", size=4)
    with pytest.raises(FrozenRecord):
        item.size = 5
    with pytest.raises(FrozenRecord):
        del item.name
    assert isinstance(FrozenRecord("x"), CausalcError) and isinstance(FrozenRecord("x"), AttributeError)
    assert item.doubled == 8 and item.doubled == 8  # cached_property writes past the frozen __setattr__
    changed = replace(item, size=6, note="n")
    assert (changed.size, changed.note, changed.name, item.size) == (6, "n", "a", 4)
    assert changed.doubled == 12  # the copy is a new record, nothing cached carried over
    with pytest.raises(TypeError, match="no field colour"):
        replace(item, colour=1)
    again = pickle.loads(pickle.dumps(item))
    assert again == item and again.doubled == 8 and type(again) is Ours


def test_a_field_without_a_default_after_one_with_a_default_is_refused():
    with pytest.raises(TypeError, match="without a default follows"):
        @record
        class Wrong:
            first: int = 0
            second: int


def test_the_ir_is_made_of_records_and_lint_imports_no_dataclasses():
    import subprocess
    import sys

    code = ("import sys; import convert.pipeline, convert.ir.graph; "
            "print(sorted(m for m in ('dataclasses', 'inspect') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    assert out.strip() == "[]"
    from convert.pipeline import check

    analysis = check(os.path.join(ROOT, "specs", "residual.yaml")).analysis
    assert replace(analysis.spec, name="other").name == "other" and analysis.spec == replace(analysis.spec)
    assert replace(analysis.spec, name="other") != analysis.spec
    assert hash(analysis.spec.layers[0]) == hash(replace(analysis.spec.layers[0]))
