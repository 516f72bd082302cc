"""What a stream is fed besides its own output: conditioning values read from files (NAME=FILE.npy) and
checked, and primes read in the signal's form (samples, or integer levels). Errors name the option they
came from (`OptionError`), so the command line and Python callers say the same."""

from __future__ import annotations

from convert.core.errors import BadValue, OptionError


def _signal(analysis) -> tuple[tuple, int]:
    """(the spec's inputs, the index of the fed-back signal among them)."""
    nodes = analysis.spec.inputs
    return nodes, nodes.index(analysis.spec.signal)


def read_conditions(analysis, pairs: tuple[str, ...], last_step: int, batch: int = 1) -> dict | None:
    """{input name: array with a batch of `batch`} for every input but the signal, each checked for shape,
    type and length (frames covering steps 0 .. last_step); a clear error for a missing, unknown, repeated or
    misshapen one. A file holds one value for every stream, or (with a leading axis of `batch`) one per stream."""
    import numpy as np

    from convert.core import limits
    from convert.runtime import conditioning
    from convert.runtime.audio import read_samples

    nodes, signal_index = _signal(analysis)
    others = [node for i, node in enumerate(nodes) if i != signal_index]
    by_name = {node.name: node for node in others}
    given: dict = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise OptionError(f"expected NAME=FILE.npy; received {pair!r}", "--condition")
        if name not in by_name:
            known = ", ".join(by_name) or "none: the spec has only the signal"
            signal = nodes[signal_index].name
            why = f"`{name}` is the fed-back signal (use --prime)" if name == signal else f"no input is named `{name}`"
            raise OptionError(f"{why}; the conditioning inputs are: {known}", "--condition")
        if name in given:
            raise OptionError(f"`{name}` is given twice", "--condition")
        if not path.lower().endswith(".npy"):
            raise OptionError(f"{path}: conditioning is read from .npy files", "--condition")
        node = by_name[name]
        rank = len(conditioning.expected_shape(node, 1)) - 1  # without the batch axis
        try:
            value = read_samples(path, ranks=(0, 1, 2) if node.is_global else (1, 2, 3))
        except (OSError, ValueError) as error:
            raise BadValue(f"cannot read the condition {name}={path}: {error}") from None
        if not node.categories and not node.is_global and value.ndim == 1 and node.channels == 1:
            value = value[:, None]
        per_stream = batch > 1 and value.ndim == rank + 1 and len(value) == batch
        if not per_stream:
            limits.check_memory(f"the condition {name}={path} for {batch:,} streams", value.nbytes * batch,
                                "give one value per stream in the file, or fewer streams")
        value = value if per_stream else np.repeat(value[None], batch, axis=0)
        try:
            value = conditioning.check_condition(node, value, batch, last_step, f"the condition {name}={path}")
        except conditioning.ConditionError as error:
            shape = conditioning.expected_shape(node, 1)[1:]
            each = f", or ({batch}, ...) for one per stream" if batch > 1 else ", no batch axis"
            raise BadValue(f"{error} (the file holds {_shape_text(shape)}{each})") from None
        given[name] = value
    missing = [name for name in by_name if name not in given]
    if missing:
        raise OptionError("the spec's inputs " + ", ".join(f"`{n}`" for n in missing) + " need values: "
                               + " ".join(f"--condition {n}=FILE.npy" for n in missing))
    return given or None


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")" if shape else "one integer"


def read_primes(paths: tuple[str, ...], analysis, batch: int):
    """The primes of `batch` streams in the signal's form, (batch, steps, C) samples or (batch, steps) integer
    levels: one file for every stream, or one per stream, all of one length."""
    import numpy as np

    from convert.core import limits

    primes = [read_prime(path, analysis) for path in paths]
    limits.check_memory(f"the primes of {batch:,} streams", sum(p.nbytes for p in primes) * batch // len(primes))
    lengths = {len(prime) for prime in primes}
    if len(lengths) > 1:
        raise BadValue("the primes of one batch must have one length (the streams advance together); "
                                   "received " + ", ".join(f"{path}: {len(p)}" for path, p in zip(paths, primes)))
    return np.stack(primes if len(primes) == batch else primes * batch)


def read_prime(path: str, analysis):
    """The prime in the signal's form: (steps, C) samples, or (steps,) integer levels (a .wav as mu-law)."""
    import numpy as np

    from convert.runtime import conditioning
    from convert.runtime.audio import AUDIO, read_samples
    from convert.runtime.mulaw import mu_law_encode

    nodes, signal_index = _signal(analysis)
    node = nodes[signal_index]
    try:
        samples = read_samples(path)
    except (OSError, ValueError) as error:
        raise BadValue(f"cannot read the prime {path}: {error}") from None
    if node.categories:
        if path.lower().rsplit(".", 1)[-1] in AUDIO:  # audio: levels as the mu-law of its samples
            samples = mu_law_encode(samples.mean(axis=1), node.categories - 1)
        if samples.ndim != 1:
            raise BadValue(f"the prime {path} has shape {samples.shape}; expected (steps,) integer "
                                       f"levels of `{node.name}`")
        try:
            return conditioning.check(node, samples[None], 1, f"the prime {path}")[0]
        except conditioning.ConditionError as error:
            raise BadValue(str(error)) from None
    samples = samples.reshape(len(samples), -1)
    if samples.shape[1] != node.channels or len(samples) == 0:
        raise BadValue(f"the prime {path} has shape {samples.shape}; expected (steps, {node.channels})")
    return np.asarray(samples, np.float32)
