"""Deployment without TensorFlow: the exported step's manifest (step.json) and the loop that runs it."""
