"""Reading and writing sample files: .npy (any shape (steps,) or (steps, channels)) and 16-bit PCM .wav."""

from __future__ import annotations

import wave

import numpy as np


def read_samples(path: str) -> np.ndarray:
    """Samples as float32, (steps,) or (steps, channels); .wav is scaled to [-1, 1]."""
    if path.endswith(".wav"):
        with wave.open(path, "rb") as handle:
            if handle.getsampwidth() != 2:
                raise ValueError("only 16-bit PCM .wav files are read")
            frames = np.frombuffer(handle.readframes(handle.getnframes()), "<i2")
            return (frames.reshape(-1, handle.getnchannels()) / 32768.0).astype(np.float32)
    data = np.load(path, allow_pickle=False)
    if data.ndim not in (1, 2) or not np.issubdtype(data.dtype, np.number):
        raise ValueError(f"expected a numeric array of shape (steps,) or (steps, channels); found {data.shape}")
    return data.astype(np.float32)


def write_samples(path: str, samples: np.ndarray, sample_rate: int = 16000) -> None:
    """(steps, channels) samples to .npy as they are, or to one-channel 16-bit PCM .wav (clipped to [-1, 1])."""
    if not path.endswith(".wav"):
        with open(path, "wb") as handle:
            np.save(handle, np.asarray(samples, np.float32))
        return
    pcm = np.round(np.clip(np.asarray(samples, np.float64).reshape(-1), -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(path, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
