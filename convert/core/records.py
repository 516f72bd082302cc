"""Frozen records: what `@dataclass(frozen=True)` gives the IR (an `__init__` from the annotated fields and
their defaults, equality, a hash, a repr, immutability, `replace`), without importing `dataclasses`, which
imports `inspect` and with it `ast`, `dis` and `tokenize`: 7-10 ms of every `causalc lint`, whose whole
import takes about 45.

    @record
    class Layer:
        name: str
        config: dict = field(default_factory=dict, hash=False)
        source: Node | None = field(default=None, compare=False, repr=False)

    changed = replace(layer, name="other")

As with dataclasses: fields are the class's annotations in order, after those of a record it derives from;
`compare=False` leaves a field out of equality and the hash, `hash=False` out of the hash; a record's
instance cannot be assigned to (FrozenRecord), though `functools.cached_property` still caches on it.
"""

from __future__ import annotations

from convert.core.errors import InternalError

MISSING = object()


class FrozenRecord(InternalError, AttributeError):
    """An assignment to a field of a record: a bug in causalc (a record is made anew, with `replace`)."""


class Field:
    __slots__ = ("name", "default", "default_factory", "compare", "hash", "repr")

    def __init__(self, default=MISSING, default_factory=MISSING, compare: bool = True, hash: bool | None = None,
                 repr: bool = True):
        self.name = ""
        self.default, self.default_factory = default, default_factory
        self.compare, self.hash, self.repr = compare, hash, repr

    @property
    def hashed(self) -> bool:
        return self.compare if self.hash is None else self.hash


def field(*, default=MISSING, default_factory=MISSING, compare: bool = True, hash: bool | None = None,
          repr: bool = True) -> Field:
    """A field's options, as dataclasses.field's."""
    return Field(default, default_factory, compare, hash, repr)


def fields(cls_or_record) -> tuple[Field, ...]:
    return cls_or_record.__record_fields__


def record(cls):
    """`cls` as a frozen record of its annotated fields."""
    own = cls.__dict__.get("__annotations__", {})
    inherited = [f for base in reversed(cls.__mro__[1:]) for f in getattr(base, "__record_fields__", ())]
    found = {f.name: f for f in inherited}
    for name in own:
        value = cls.__dict__.get(name, MISSING)
        made = value if isinstance(value, Field) else Field(default=value)
        made.name = name
        found[name] = made
        if made.default is MISSING and name in cls.__dict__:
            delattr(cls, name)  # a Field with a factory or without a default: no class attribute
        elif made.default is not MISSING:
            setattr(cls, name, made.default)
    every = tuple(found.values())
    cls.__record_fields__ = every
    namespace = {"_missing_": MISSING, "_fields_": every, "_set_": object.__setattr__}  # names no field has
    arguments, body, defaulted = [], [], False
    for index, f in enumerate(every):
        if f.default is not MISSING or f.default_factory is not MISSING:
            defaulted = True
        elif defaulted:
            raise TypeError(f"{cls.__name__}: field {f.name} without a default follows one with a default")
        if f.default is not MISSING:
            arguments.append(f"{f.name}=_fields_[{index}].default")
            body.append(f"    _set_(self, {f.name!r}, {f.name})")
        elif f.default_factory is not MISSING:
            arguments.append(f"{f.name}=_missing_")
            body.append(f"    _set_(self, {f.name!r}, _fields_[{index}].default_factory() if {f.name} is _missing_ "
                        f"else {f.name})")
        else:
            arguments.append(f.name)
            body.append(f"    _set_(self, {f.name!r}, {f.name})")
    source = f"def __init__(self, {', '.join(arguments)}):\n" + ("\n".join(body) or "    pass")
    exec(source, namespace)  # noqa: S102  (the generated __init__, as dataclasses makes it)
    cls.__init__ = namespace["__init__"]
    cls.__init__.__qualname__ = f"{cls.__qualname__}.__init__"
    compared = tuple(f.name for f in every if f.compare)
    hashed = tuple(f.name for f in every if f.hashed)
    shown = tuple(f.name for f in every if f.repr)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return tuple(getattr(self, name) for name in compared) == tuple(getattr(other, name) for name in compared)

    def __hash__(self):
        return hash(tuple(getattr(self, name) for name in hashed))

    def __repr__(self):
        return f"{cls.__qualname__}({', '.join(f'{name}={getattr(self, name)!r}' for name in shown)})"

    def __setattr__(self, name, value):
        raise FrozenRecord(f"cannot assign to field {name!r} of a {cls.__name__}")

    def __delattr__(self, name):
        raise FrozenRecord(f"cannot delete field {name!r} of a {cls.__name__}")

    for method in (__eq__, __hash__, __repr__, __setattr__, __delattr__):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        setattr(cls, method.__name__, method)
    return cls


def replace(instance, **changes):
    """A copy of the record `instance` with `changes` to its fields."""
    known = {f.name for f in instance.__record_fields__}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise TypeError(f"{instance.__class__.__name__} has no field {', '.join(unknown)}")
    values = {f.name: getattr(instance, f.name) for f in instance.__record_fields__}
    values.update(changes)
    return instance.__class__(**values)
