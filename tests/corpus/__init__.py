"""Bad and real-shaped order files, generated on demand (see make_bad_inputs.py)."""
