"""Reading and writing sample files: .npy (any shape (steps,) or (steps, channels)), 16-bit PCM .wav, and
with soundfile installed (`causalc[audio]`) WAV of any width, FLAC, OGG and AIFF (`train`, `generate
--prime`; `predict` reads recordings a piece at a time, convert.runtime.recordings)."""

from __future__ import annotations

import io
import wave

import numpy as np
from convert.core.errors import BadValue

MAX_SAMPLES = 100_000_000  # values in a prime file (400 MB as float32)


def read_samples(path: str, ranks: tuple[int, ...] = (1, 2)) -> np.ndarray:
    """Samples as float32, (steps,) or (steps, channels) (a .npy of another rank in `ranks`); .wav is scaled
    to [-1, 1]. Any file that is not such samples (empty, another format, truncated, too large, not finite)
    is a ValueError saying why."""
    from convert.frontend.source import read_bytes

    data = read_bytes(path, 16 + 4 * MAX_SAMPLES + 2**20)  # regular files only, bounded
    if len(data) > 16 + 4 * MAX_SAMPLES + 2**20:
        raise BadValue(f"larger than causalc reads for a prime ({MAX_SAMPLES:,} samples)")
    if not data:
        raise BadValue("the file is empty")
    suffix = path.lower().rsplit(".", 1)[-1]
    samples = _audio(data, suffix) if suffix in AUDIO else _npy(data, ranks)
    if samples.size == 0:
        raise BadValue("the file holds no samples")
    if not np.all(np.isfinite(samples)):
        raise BadValue("the samples include NaN or infinity")
    return samples


AUDIO = ("wav", "flac", "ogg", "aiff", "aif")


def _audio(data: bytes, suffix: str) -> np.ndarray:
    """16-bit PCM WAV by hand; any other audio through soundfile, when it is installed."""
    try:
        return _wav(data) if suffix == "wav" else _soundfile(data, suffix, None)
    except BadValue as error:
        if suffix == "wav" and "only 16-bit PCM" in str(error):
            return _soundfile(data, suffix, error)
        raise


def _soundfile(data: bytes, suffix: str, why: BadValue | None) -> np.ndarray:
    try:
        import soundfile
    except ImportError:
        raise why or BadValue(f"reading .{suffix} needs soundfile: pip install 'causalc[audio]'") from None
    try:
        samples, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as error:
        raise BadValue(f"not an audio file causalc can read ({error})") from None
    return samples


def _wav(data: bytes) -> np.ndarray:
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise BadValue("not a RIFF/WAVE file")
    try:
        with wave.open(io.BytesIO(data), "rb") as handle:
            width, channels, frames = handle.getsampwidth(), handle.getnchannels(), handle.getnframes()
            if width != 2 or channels < 1:
                raise BadValue(f"only 16-bit PCM .wav files with channels are read; this one has {width * 8}-bit "
                                 f"samples and {channels} channel(s)")
            raw = handle.readframes(frames)
    except ValueError:
        raise
    except Exception as error:  # the wave module fails on damaged files in undocumented ways (RuntimeError, ...)
        raise BadValue(f"not a 16-bit PCM .wav file causalc can read ({type(error).__name__}"
                         f"{': ' + str(error) if str(error) else ''})") from None
    if len(raw) != frames * channels * 2:
        raise BadValue(f"truncated: the header promises {frames:,} frames, the file holds {len(raw) // (2 * channels):,}")
    return (np.frombuffer(raw, "<i2").reshape(-1, channels) / 32768.0).astype(np.float32)


def _npy(data: bytes, ranks: tuple[int, ...] = (1, 2)) -> np.ndarray:
    if not data.startswith(b"\x93NUMPY"):
        raise BadValue("not a .npy file (an .npz archive, text or another format?)")
    try:
        handle = io.BytesIO(data)
        major, _ = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(handle)
    except Exception as error:  # NumPy's header parser fails in many ways (SyntaxError, TokenError, ...)
        raise BadValue(f"not a .npy file causalc can read ({type(error).__name__})") from None
    if len(shape) not in ranks or dtype.kind not in "iuf" or dtype.hasobject:
        names = ({0: "()", 1: "(channels,)", 2: "(streams, channels)"} if 0 in ranks else
                 {1: "(steps,)", 2: "(steps, channels)", 3: "(streams, steps, channels)"})
        expected = " or ".join(names[r] for r in ranks)
        raise BadValue(f"expected a real-valued (integer or float) array of shape {expected}; found {dtype} {shape}")
    if int(np.prod(shape, dtype=object)) > MAX_SAMPLES:
        raise BadValue(f"the array claims {int(np.prod(shape, dtype=object)):,} values; causalc reads up to "
                         f"{MAX_SAMPLES:,}")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False).astype(np.float32)
    except Exception as error:  # read after a header that passed: a truncated or damaged body
        raise BadValue(f"truncated or damaged .npy file ({type(error).__name__})") from None


def write_samples(path: str, samples: np.ndarray, sample_rate: int = 16000) -> None:
    """(steps, channels) samples (or integer levels) to .npy as they are, or to one-channel 16-bit PCM .wav
    (clipped to [-1, 1])."""
    if not path.lower().endswith(".wav"):
        integers = np.issubdtype(np.asarray(samples).dtype, np.integer)
        with open(path, "wb") as handle:
            np.save(handle, np.asarray(samples, np.int32 if integers else np.float32))
        return
    pcm = np.round(np.clip(np.asarray(samples, np.float64).reshape(-1), -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(path, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
