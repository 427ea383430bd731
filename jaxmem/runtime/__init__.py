"""The process a run lives in: many processes, signals, memory and disk.

A file here is one concern of the running process, used by the trainer and
the commands and knowing nothing of training: `distributed` (jax.distributed,
what crosses processes, the watchdog), `preemption` (SIGTERM and SIGINT as
"stop soon, lose nothing"), `budget` (memory and disk estimates checked before
any work), `host_memory` (freed memory handed back to the OS).
"""
