"""Recordings read as the practice model takes them, without loading them whole: `.npy` memory-mapped,
audio (WAV of any PCM or float width, FLAC, ...) through soundfile and EDF/BDF through pyedflib, read a
piece at a time; `.npz` (one array per input, for specs of several inputs) loaded member by member.

`read(path, analysis)` gives one array-like per spec input, in spec order, each indexable by a slice of
its first axis (steps, or frames of a hop input); everything is checked before a prediction runs: shape,
type, the channels the spec declares, finite values, steps enough for a window."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from convert.core.errors import BadValue, CausalcError
from convert.runtime import conditioning

AUDIO = (".wav", ".flac", ".ogg", ".aiff", ".aif")
EDF = (".edf", ".bdf")
SUFFIXES = (".npy", ".npz") + AUDIO + EDF
SCAN = 1 << 20  # steps checked for NaN and infinity at a time


class RecordingError(BadValue):
    """A recording causalc cannot use: unreadable, truncated, of the wrong shape, or not finite."""


class _Audio:
    """An audio file as a (frames, channels) float32 array read by slices (soundfile)."""

    def __init__(self, path: str):
        try:
            import soundfile
        except ImportError:
            raise RecordingError(f"{path}: reading audio needs soundfile: pip install 'causalc[audio]'") from None
        try:
            info = soundfile.info(path)
        except (RuntimeError, OSError) as error:  # soundfile's LibsndfileError is a RuntimeError
            raise RecordingError(f"cannot read {path}: {error}") from None
        self.path, self.shape, self.dtype, self.ndim = path, (info.frames, info.channels), np.dtype(np.float32), 2
        self._soundfile = soundfile

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        start, stop, _ = index.indices(self.shape[0])
        try:
            data, _ = self._soundfile.read(self.path, frames=max(stop - start, 0), start=start, dtype="float32",
                                           always_2d=True)
        except (RuntimeError, OSError) as error:
            raise RecordingError(f"cannot read {self.path} (steps {start:,} to {stop:,}): {error}") from None
        if len(data) != stop - start:
            raise RecordingError(f"{self.path}: truncated: steps {start:,} to {stop:,} hold {len(data):,}")
        return data


class _Edf:
    """Chosen channels of an EDF/BDF file as a (samples, channels) float32 array read by slices (pyedflib,
    the file opened for each slice, so none is left open); the channels must share one sampling rate."""

    def __init__(self, path: str, channels: tuple[str, ...] | None):
        try:
            import pyedflib
        except ImportError:
            raise RecordingError(f"{path}: reading EDF/BDF needs pyedflib: pip install 'causalc[edf]'") from None
        self.path, self._open = path, pyedflib.EdfReader
        with self._reader() as reader:
            labels = [label.strip() for label in reader.getSignalLabels()]
            names = channels or tuple(labels)
            missing = [name for name in names if name not in labels]
            if missing:
                raise RecordingError(f"{path} has no channel {', '.join(missing)}; its channels: {', '.join(labels)}")
            self.index = [labels.index(name) for name in names]
            lengths = {int(reader.getNSamples()[i]) for i in self.index}
            rates = {float(reader.getSampleFrequency(i)) for i in self.index}
        if len(lengths) > 1 or len(rates) > 1:
            raise RecordingError(f"{path}: the channels {', '.join(names)} have different sampling rates "
                                 f"({', '.join(f'{r:g}' for r in sorted(rates))} Hz); choose channels of one rate")
        self.shape, self.dtype, self.ndim = (lengths.pop(), len(self.index)), np.dtype(np.float32), 2

    def _reader(self):
        import contextlib

        try:
            reader = self._open(self.path)
        except (OSError, ValueError) as error:
            raise RecordingError(f"cannot read {self.path} as EDF/BDF: {error}") from None
        return contextlib.closing(reader)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        start, stop, _ = index.indices(self.shape[0])
        with self._reader() as reader:
            return np.stack([reader.readSignal(i, start, stop - start).astype(np.float32) for i in self.index], -1)


def _audio(path: str):
    """Audio read a piece at a time through soundfile; without it, a 16-bit PCM WAV read whole."""
    try:
        import soundfile  # noqa: F401
    except ImportError:
        if path.lower().endswith(".wav"):
            from convert.runtime.audio import read_samples

            try:
                return read_samples(path)
            except (OSError, ValueError) as error:
                raise RecordingError(f"cannot read {path}: {error}") from None
    return _Audio(path)


def _npy(path: str):
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise RecordingError(f"cannot read {path} as a .npy array: {error}") from None


def read_npz(path: str, nodes) -> list:
    """A `.npz`'s array for each input, by name (a regular file, loaded whole; `train` reads these too)."""
    import io

    from convert.frontend.source import read_bytes

    from convert.core import limits
    from convert.runtime.audio import MAX_SAMPLES

    try:
        data = read_bytes(path, limits.MAX_MEMORY)
        limits.check_memory(f"reading {path}", len(data))
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            names = set(archive.files)
            missing = [node.name for node in nodes if node.name not in names]
            if missing:
                raise RecordingError(f"{path} has no array {', '.join(missing)}; it holds {', '.join(sorted(names)) or 'none'}"
                                     f" (one array per input: {', '.join(node.name for node in nodes)})")
            with zipfile.ZipFile(io.BytesIO(data)) as members:  # declared sizes first, as a .npy's are
                declared = {node.name: _declared(members, node.name + ".npy") for node in nodes}
            values = sum(count for count, _ in declared.values())
            if values > MAX_SAMPLES:
                raise RecordingError(f"{path}: its arrays declare {values:,} values, over the {MAX_SAMPLES:,} causalc "
                                     "reads from one file")
            limits.check_memory(f"the arrays of {path}", sum(size for _, size in declared.values()))
            return [archive[node.name] for node in nodes]
    except CausalcError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise RecordingError(f"cannot read {path} as a .npz archive with one array per input "
                             f"({type(error).__name__}: {error})") from None


def _declared(members, name: str) -> tuple[int, int]:
    """(values, bytes) that a .npz member's header declares, read before its data."""
    with members.open(name) as member:
        version = np.lib.format.read_magic(member)
        shape, _, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)(member)
    count = int(np.prod(shape, dtype=object))
    return count, count * dtype.itemsize


def read(path: str, analysis, channels: tuple[str, ...] | None = None) -> list:
    """One array-like per input of the spec, in spec order (see the module's docstring); `channels` picks
    EDF/BDF channels by name."""
    nodes = analysis.spec.inputs
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise RecordingError(f"{path}: causalc reads recordings in {', '.join(SUFFIXES)}")
    if not os.path.isfile(path):
        raise RecordingError(f"{path}: no such file" if not os.path.exists(path) else f"{path} is not a regular file")
    if suffix == ".npz":
        arrays = read_npz(path, nodes)
    elif len(nodes) > 1:
        raise RecordingError(f"{path}: the spec has {len(nodes)} inputs ({', '.join(n.name for n in nodes)}): give "
                             "a .npz with one array per input")
    elif suffix == ".npy":
        arrays = [_npy(path)]
    elif suffix in EDF:
        arrays = [_Edf(path, channels)]
    else:
        arrays = [_audio(path)]
    return [_checked(path, node, value, analysis.window) for node, value in zip(nodes, arrays)]


def _checked(path: str, node, value, window: int):
    where = f"{path}: `{node.name}`" if len(value.shape) else path
    if node.is_global:
        value = np.asarray(value)
        return conditioning.check(node, value[None], 1, where)[0]
    if node.categories:
        if value.ndim != 1 or not np.issubdtype(value.dtype, np.integer):
            raise RecordingError(f"{where}: expected (steps,) integer levels of {node.categories} categories; found "
                                 f"{value.dtype} {tuple(value.shape)}")
    else:
        if value.ndim == 1 and node.channels == 1:
            value = _Column(value)
        if value.ndim != 2 or value.shape[1] != node.channels:
            raise RecordingError(f"{where}: expected (steps, {node.channels}) for {node.channels} channel(s); found "
                                 f"{tuple(value.shape)}")
        if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
            raise RecordingError(f"{where}: expected numbers; found {value.dtype}")
    steps = value.shape[0]
    if not node.hop and steps < window:
        raise RecordingError(f"{where}: {steps:,} steps; a prediction needs a window of {window:,}")
    for start in range(0, steps, SCAN):  # before any prediction: a bad value found late would waste the run
        piece = np.asarray(value[start:start + SCAN])
        if node.categories:
            bad = (piece < 0) | (piece >= node.categories)
            if bad.any():
                raise RecordingError(f"{where}: levels must lie in 0..{node.categories - 1}; step "
                                     f"{start + int(np.argmax(bad)):,} holds {int(piece[bad][0])}")
        elif not np.isfinite(piece).all():
            step = start + int(np.argmax(~np.isfinite(piece).all(axis=-1)))
            raise RecordingError(f"{where}: NaN or infinity at step {step:,}")
    return value


class _Column:
    """A (steps,) one-channel array seen as (steps, 1) without a copy."""

    def __init__(self, value):
        self.value, self.shape, self.dtype, self.ndim = value, (value.shape[0], 1), value.dtype, 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        return np.asarray(self.value[index])[:, None]
