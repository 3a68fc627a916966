"""User and item profiling on top of the augment job runner (training interactions only)."""
