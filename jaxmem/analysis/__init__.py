"""Per-example and per-lane statistics computed from a run's recorded history.

One module per family of measures; each works on the arrays of a workdir's
examples.npz and metrics.jsonl (numpy on the host: the histories are small).
"""
