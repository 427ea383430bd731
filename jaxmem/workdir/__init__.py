"""A run's folder: what it holds, who may write it, and how it survives.

A file here is one part of the workdir contract (`files` lists the files):
`files` (atomic writes, readers that name a damaged file), `ownership` (the
marker and the lock), `admission` (start, resume or refuse), `checkpoint`
(Orbax, checksums), `resume` (the host's progress), `history` (the optional
per-epoch store), `examples` (examples.npz), `summary` (summary.json and its
tables), `tensorboard`, and `formats` (which jaxmem wrote a workdir, and
what this one can do with it).
"""
