"""Models from elsewhere into specs: Keras per-step models (`keras`)."""
