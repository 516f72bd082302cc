"""Running compiled models: the Python API, streaming step by step, generation, export, training data,
sample files and benchmarks. Imports TensorFlow."""
