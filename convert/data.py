"""Public names of the training-data helpers (`from convert.data import sequence_pairs`); see
`convert.runtime.data`."""

from convert.runtime.data import sequence_pairs, window_pairs

__all__ = ["sequence_pairs", "window_pairs"]
