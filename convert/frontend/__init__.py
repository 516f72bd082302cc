"""The front end: located YAML (`source`), the spec IR and its checks (`spec`), diagnostics, their codes and
formats, and the JSON Schema. TensorFlow-free."""
