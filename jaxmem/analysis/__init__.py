"""Analysis of finished runs, on the host: what `jaxmem analyze` computes.

`difficulty` reads workdirs (computing on the device only what needs the
trained networks: prediction depth, final critical samples) and writes the
difficulty table; the statistics themselves are plain NumPy over examples.npz
and metrics.jsonl arrays. A file here is one family of them: `table` (the
per-example table and its correlations), `holdout` (C-scores, memorization),
`detection` (how well each score finds the corrupted labels), `influence`
(Feldman & Zhang's train -> test influence, streamed), `pruning` (test
accuracy against the fraction kept, pooled over runs), `published` (the
table beside published per-example scores), `dynamics` (forgetting and
learning from a full history), `fit` (Zhang's time to fit), `interpolation`
(Zhang's Theorem 1 and kernel interpolation). A new file takes NumPy arrays
and returns NumPy arrays or a dataclass of them; it never trains.
"""
