"""The lowered IR: graphs of Keras layers as data (`graph`) and the exact-'same' edge plans (`edges`)."""
