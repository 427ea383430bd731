"""Sizing a sweep on paper: 10,000 lanes of ResNet-18 on CIFAR-10 over 64 hosts.

Measures on this machine what one lane of the CIFAR ResNet-18 (Toneva's
settings, 50,000 training images) costs: its training state, its
per-example accumulators, its constants, what one epoch sends to the host
and its compiled epoch program's footprint (XLA's memory analysis of the
program for one lane), and how fast this machine's disk writes and reads an
Orbax checkpoint of such lanes through jaxmem's own `checkpoint` module.
It then scales them to a sweep of --lanes lanes over --hosts hosts of
--devices devices each, and writes docs/multihost.md's "sizing" section.

  python scripts/sizing.py          # about 2 minutes on 2 cores
"""

import argparse
import pathlib
import shutil
import sys
import tempfile
import time

import results_lib as lib  # pylint: disable=wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "multihost.md"


def config(num_train: int, num_test: int):
  c = lib.sweep_config("toneva_cifar10_resnet18")
  c.dataset = "synthetic"  # CIFAR-10's shapes, without decoding 60,000 JPEGs.
  c.synthetic.update(dict(num_train=num_train, num_test=num_test, shape=(32, 32, 3)))
  c.train_size = c.test_size = 0
  c.num_seeds = 1
  c.lane_chunk = 1
  return c


def checkpoint_rates(the_run, lanes: int) -> tuple[int, float, float]:
  """(bytes, write s, read s) of a checkpoint of `lanes` copies of the lane."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxmem.runtime import budget  # pylint: disable=g-import-not-at-top
  from jaxmem.workdir import checkpoint  # pylint: disable=g-import-not-at-top
  tree = the_run.checkpoint_tree(the_run.state, np.full(the_run.num_lanes, -1))
  tree = jax.tree.map(lambda x: np.repeat(np.asarray(x)[:1], lanes, 0), tree)
  folder = pathlib.Path(tempfile.mkdtemp(prefix="jaxmem_sizing_"))
  try:
    ckpts = checkpoint.Checkpoints(folder / "checkpoints", keep=1, asynchronous=False)
    start = time.perf_counter()
    ckpts.save(1, tree, dict(num_lanes=lanes))
    ckpts.wait()
    write_s = time.perf_counter() - start
    expected = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)
    start = time.perf_counter()
    assert ckpts.restore(expected, lanes) is not None
    read_s = time.perf_counter() - start
    ckpts.close()
    return budget.tree_bytes(tree), write_s, read_s
  finally:
    shutil.rmtree(folder, ignore_errors=True)


def gb(n: float) -> str:
  return f"{n / 1e9:,.2f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--lanes", type=int, default=10_000)
  parser.add_argument("--hosts", type=int, default=64)
  parser.add_argument("--devices", type=int, default=8, help="per host")
  parser.add_argument("--chunk", type=int, default=4,
                      help="lanes in flight per device (config.lane_chunk)")
  parser.add_argument("--num_train", type=int, default=50_000)
  parser.add_argument("--checkpoint_lanes", type=int, default=8)
  parser.add_argument("--page", default=str(PAGE))
  args = parser.parse_args()
  lib.setup()
  from jaxmem import run as run_lib  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  the_run = run_lib.Run.build(config(args.num_train, 10_000))
  lane = the_run.footprint()
  data = the_run.dataset.train.images.nbytes + the_run.dataset.test.images.nbytes
  size, write_s, read_s = checkpoint_rates(the_run, args.checkpoint_lanes)
  write_rate, read_rate = size / write_s, size / read_s
  print(f"measured in {time.perf_counter() - start:.0f} s: {lane}, checkpoint "
        f"{gb(size)} written in {write_s:.1f} s, read in {read_s:.1f} s", file=sys.stderr)

  devices = args.hosts * args.devices
  per_device = -(-args.lanes // devices)
  padded = per_device * devices
  per_host = per_device * args.devices
  resident = lane["train_state"] + lane["records"] + lane["constants"]
  in_flight = max(0, lane["working"] - lane["train_state"] - lane["records"])
  device_mem = per_device * resident + min(args.chunk, per_device) * in_flight + data
  checkpoint_total = padded * (resident + 4)
  per_host_ckpt = per_host * (resident + 4)
  host_mem = data + per_host_ckpt  # Data set, plus the host copy of a save.
  primary_extra = args.lanes * lane["records"]  # Final per-example arrays.
  traffic = padded * lane["epoch_sums"]
  rows = [
      ("lanes per device / per host (padded)", f"{per_device} / {per_host} "
       f"({padded:,} lanes in all, {padded - args.lanes} padding)"),
      ("one lane: training state (parameters, momentum, BatchNorm)",
       gb(lane["train_state"])),
      ("one lane: per-example accumulators, 50,000 examples", gb(lane["records"])),
      ("one lane: constants (keys, labels, subset)", gb(lane["constants"])),
      ("one lane in flight: working memory of its epoch program", gb(in_flight)),
      ("device memory, per device", f"{gb(device_mem)} ({per_device} lanes resident, "
       f"{min(args.chunk, per_device)} in flight, the data set once)"),
      ("host memory, per host", f"{gb(host_mem)} (the data set, and the host copy "
       "Orbax makes of this host's lanes during a save)"),
      ("host memory, process 0 at the end", f"+ {gb(primary_extra)} (every lane's "
       "per-example arrays, gathered for examples.npz)"),
      ("per-epoch traffic", f"{gb(traffic)} to every host (one all-gather of the "
       "per-lane sums), plus a few bytes of stop flag and heartbeats"),
      ("checkpoint size", f"{gb(checkpoint_total)} ({gb(per_host_ckpt)} written and "
       "read by each host)"),
      ("time to save / resume, per host at this machine's disk rate",
       f"{per_host_ckpt / write_rate:,.0f} s / {per_host_ckpt / read_rate:,.0f} s "
       f"({write_rate / 1e6:,.0f} MB/s written, {read_rate / 1e6:,.0f} MB/s read "
       "here)"),
      ("time to resume at a shared file system's 10 GB/s in all",
       f"{checkpoint_total / 10e9:,.0f} s"),
  ]
  lines = [
      f"{args.lanes:,} lanes of the CIFAR ResNet-18 (Toneva's settings, "
      f"{args.num_train:,} training images, batch 128) over {args.hosts} hosts of "
      f"{args.devices} devices, {min(args.chunk, per_device)} lanes in flight per "
      "device. One lane's sizes come from its shapes and from XLA's memory "
      "analysis of its compiled epoch program on this machine's CPU (an "
      "accelerator's compiler lays memory out differently: take the working "
      "memory as a guide); the disk rates are this machine's, writing and "
      f"reading a checkpoint of {args.checkpoint_lanes} such lanes "
      f"({gb(size)}) through jaxmem's own checkpoint code.", "",
      "| quantity | value |", "|---|---|",
      *[f"| {a} | {b} |" for a, b in rows]]
  lib.publish_section(args.page, "sizing", "python scripts/sizing.py", lines)


if __name__ == "__main__":
  main()
