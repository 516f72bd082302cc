"""Backends over the lowered graphs: the Keras model, the Python source, the weight map, and atomic writing.
These import TensorFlow (through Keras); nothing above them in the pipeline does."""
