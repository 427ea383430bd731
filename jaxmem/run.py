"""The Run: one config's data, lanes, measures, execution plan and state.

Built once from a config (`Run.build`), or from what a workdir holds
(`Run.from_workdir`: its stored config merged onto today's defaults, its newest
checkpoint restored against the abstract shapes of the state). Training,
analysis, results and the scripts all start from one; nothing re-derives the
setup by hand.

Every program over lanes goes through `plan.lift`: the lane constants and the
initial state here (jaxmem.lanes), the epoch and the measures in jaxmem.epoch.
"""

import dataclasses
import functools
import os
import platform
import tempfile
from typing import Any

from absl import logging
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmem import config as config_lib
from jaxmem import config_files
from jaxmem import datasets
from jaxmem import epoch as epoch_lib
from jaxmem import errors
from jaxmem import execution
from jaxmem import lanes as lanes_lib
from jaxmem import measures as measures_lib
from jaxmem import models
from jaxmem import steps
from jaxmem import version
from jaxmem.datasets import preprocess
from jaxmem.models import layers
from jaxmem.runtime import budget
from jaxmem.runtime import distributed
from jaxmem.workdir import checkpoint
from jaxmem.workdir import files
from jaxmem.workdir import formats


def _check_against_data(config, ds: datasets.Dataset) -> None:
  n, (h, w, _) = len(ds.train.labels), ds.train.images.shape[1:]
  m = lanes_lib.subset_size(config, n)
  if config.batch_size > m:
    what = f"the {n} training examples" if m == n else \
        f"each lane's subset of {m} of the {n} training examples"
    raise errors.UserError(
        f"config.batch_size {config.batch_size} is larger than {what} of "
        f"{config.dataset}; valid: 1..{m}")
  if config.scores.threshold_samples and m < ds.num_classes + 1:
    raise errors.UserError(
        f"config.scores.threshold_samples: a lane's {m} training examples leave "
        f"no threshold sample (N/(C+1) with C = {ds.num_classes}); valid: False")
  if config.preprocess.crop > min(h, w):
    raise errors.UserError(
        f"config.preprocess.crop {config.preprocess.crop} is larger than the "
        f"{h}x{w} images of {config.dataset}; valid: 0..{min(h, w)}")


def _check_model(config, model, shape, num_classes: int) -> bool:
  """models.check, with the extra class of AUM's threshold samples named."""
  if not config.scores.threshold_samples:
    return models.check(config.model, model, shape, num_classes,
                        embeddings=config.depth.k > 0)
  try:
    return models.check(config.model, model, shape, num_classes + 1,
                        embeddings=config.depth.k > 0)
  except errors.UserError as e:
    if "returns" not in str(e):
      raise
    raise errors.UserError(
        f"config.scores.threshold_samples needs a free class index: model "
        f"{config.model} must output num_classes + 1 = {num_classes + 1} logits "
        f"for {config.dataset}'s {num_classes} classes ({e})") from None


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything one run's programs need; frozen.

  Attributes:
    config: the experiment's ConfigDict.
    dataset: the splits on the host, with their example ids.
    lanes: every lane's identity on the host.
    task: what the compiled programs see as constants, and the sizes the
      measures use.
    measures: the measures the config enables.
    plan: how the lane axis executes.
    data: the data set on the device, shared by the lanes.
    constants: the lanes' constants [L] on the device (keys, labels, subsets).
    state: the lanes' state [L] (training state and accumulators): initial
      for `build`, restored for `from_workdir`; None for `build(initial=False)`.
    pruning: what config.json records of the pruning (the score file, its
      SHA-256, the examples kept), or None.
  """
  config: Any
  dataset: datasets.Dataset
  lanes: lanes_lib.Lanes
  task: steps.Task
  measures: tuple[measures_lib.Measure, ...]
  plan: execution.Plan
  data: steps.Data
  constants: lanes_lib.Lane
  state: steps.State | None
  pruning: dict | None = None

  @property
  def num_lanes(self) -> int:
    return len(self.lanes)

  @classmethod
  def build(cls, config, data_dir=None, initial: bool = True) -> "Run":
    """Checks the config, loads the data and builds every lane.

    The run's memory is checked against the machine's from shapes alone
    before anything proportional to the lanes is allocated.
    """
    config_lib.validate(config)
    budget.check_data(config)
    ds = datasets.from_config(config, data_dir)
    _check_against_data(config, ds)
    prune_plan, pruned = lanes_lib.pruning_plan(config, ds)
    # AUM's threshold samples train on an extra class: the model's C + 1.
    classes = ds.num_classes + int(config.scores.threshold_samples)
    model = models.from_config(config, classes)
    shape = preprocess.output_shape(ds.train.images.shape[1:], config.preprocess.crop)
    n, m = len(ds.train.labels), len(ds.test.labels)
    subset = lanes_lib.subset_size(config, n)
    task = steps.Task(config=config, model=model,
                      has_batch_norm=_check_model(config, model, shape, ds.num_classes),
                      num_classes=classes, num_train=n, num_test=m,
                      subset_size=subset, steps_per_epoch=subset // config.batch_size,
                      input_kinds=lanes_lib.input_kinds(config),
                      # A lane's own, until the plan says how many share it.
                      eval_chunk=config.eval_batch_size)
    enabled = tuple(measures_lib.enabled(config))
    init = functools.partial(_init_state, task, enabled, shape)
    one_lane = lanes_lib.abstract(config, n)
    one_state = jax.eval_shape(init, one_lane)
    num_lanes = lanes_lib.count(config)
    memory = budget.Memory(
        num_lanes, budget.tree_bytes(one_state.train) + budget.tree_bytes(one_lane),
        num_lanes * budget.tree_bytes(one_state.accumulators), 0,
        ds.train.images.nbytes + ds.test.images.nbytes)
    budget.check_memory(memory, execution.devices(), jax.default_backend())
    logging.info("%s", datasets.describe(ds))  # The one line about the data.
    lanes = lanes_lib.expand(config)
    axes = (0, 1, 2)
    host_data = steps.Data(
        train_images=ds.train.images, train_labels=ds.train.labels.astype(np.int32),
        test_images=ds.test.images, test_labels=ds.test.labels.astype(np.int32),
        mean=ds.train.images.mean(axis=axes).astype(np.float32),
        std=ds.train.images.std(axis=axes).astype(np.float32))
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), host_data)
    plan = execution.plan(config, len(lanes),
                          _bytes_per_lane(task, enabled, abstract, one_lane, one_state))
    task = dataclasses.replace(task, eval_chunk=execution.eval_chunk(config, plan.chunk))
    data = plan.replicate(host_data)  # Once on every device.

    def setup(train_labels, prune_plan, identity):  # ONE lane's constants and state.
      lane = lanes_lib.one_lane(config, ds.num_classes, train_labels, prune_plan, identity)
      return lane, (init(lane) if initial else None)
    # Once per run, so lanes one after another whatever the plan: vmapped,
    # LeNet-1989's initializers compiled 4x slower (same values either way).
    constants, state = dataclasses.replace(plan, chunk=1).run_once(
        setup, data.train_labels, plan.replicate(prune_plan),
        plan.put(lanes_lib.identity(lanes)), lane_args=(2,))
    constants = _cache_inputs(config, task, plan, data, constants, memory)
    return cls(config, ds, lanes, task, enabled, plan, data, constants, state, pruned)

  @classmethod
  def from_workdir(cls, path, data_dir=None, require_done: bool = True) -> "Run":
    """Rebuilds a workdir's run with the state of its newest usable checkpoint.

    Args:
      path: the workdir.
      data_dir: where its data set lives.
      require_done: only a finished run (its final checkpoint).

    Raises:
      UserError: not finished (when required), still running, written by a
        jaxmem whose checkpoints this one cannot read, or no usable checkpoint.
    """
    wd = files.Workdir(path)
    if require_done:
      wd.require_done()
    written = formats.of(wd)
    described = wd.read_json("config.json")
    config = config_files.merge_stored(described["config"])
    _register_recorded_parts(config, described.get("config_file"))
    run = cls.build(config, data_dir, initial=False)
    ckpts = checkpoint.Checkpoints(wd.checkpoints, keep=config.checkpoint_keep)
    try:
      restored = ckpts.restore(run.checkpoint_tree(abstract=True), run.num_lanes,
                               renames=written.renames)
    finally:
      ckpts.close()
    if restored is None or (require_done and restored[0] != config.num_epochs):
      raise errors.UserError(f"{wd.checkpoints} holds no "
                             f"{'final ' if require_done else 'usable '}checkpoint")
    return dataclasses.replace(run, state=run.plan.put(restored[1]["state"]))

  def abstract_state(self):
    """The state's shapes and dtypes, with the lane axis."""
    one = jax.eval_shape(functools.partial(
        _init_state, self.task, self.measures,
        preprocess.output_shape(self.dataset.train.images.shape[1:],
                                self.config.preprocess.crop)),
        lanes_lib.abstract(self.config, self.task.num_train))
    lanes = self.plan.padded_lanes
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct((lanes,) + x.shape, x.dtype), one)

  def checkpoint_tree(self, state=None, diverged_epoch=None, abstract: bool = False):
    """What a checkpoint holds of the arrays: state, lane constants,
    divergence; every leaf with the (padded) lane axis first."""
    lanes = self.plan.padded_lanes
    constants = self.constants.replace(images=None)  # Cached inputs are remade.
    if abstract:
      constants = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                               constants)
      return dict(state=self.abstract_state(), constants=constants,
                  diverged_epoch=jax.ShapeDtypeStruct((lanes,), np.int32))
    diverged = np.asarray(diverged_epoch, np.int32)
    diverged = np.concatenate([diverged, np.full(lanes - len(diverged), -1, np.int32)])
    return dict(state=state, constants=constants, diverged_epoch=diverged)

  def host(self, tree):
    """Lane-axis device arrays (or numpy) as numpy of the run's lanes [L, ...],
    gathered from every process."""
    return jax.tree.map(lambda x: np.asarray(x)[:self.num_lanes],
                        distributed.gather(tree))

  def footprint(self, compiled: bool = True) -> dict[str, int]:
    """One lane's bytes, from shapes (and XLA's memory analysis of its
    compiled epoch program): what sizing a sweep needs.

    Returns:
      train_state (parameters, optimizer, BatchNorm), accumulators
      (per-example), constants (keys, labels, subset), epoch_sums (what one
      epoch sends to the host), and with `compiled` working (the epoch
      program's footprint, state included, data set excluded).
    """
    one_lane = lanes_lib.abstract(self.config, self.task.num_train)
    one = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype),
                       self.abstract_state())
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), self.data)
    fn = _one_lane_epoch(self.task, self.measures)
    out = jax.eval_shape(fn, abstract, one_lane, one, jnp.int32(0))[2]
    out.pop("presented"), out.pop("scores")  # Only the history takes them home.
    sizes = dict(train_state=budget.tree_bytes(one.train),
                 accumulators=budget.tree_bytes(one.accumulators),
                 constants=budget.tree_bytes(one_lane), epoch_sums=budget.tree_bytes(out))
    if compiled:
      sizes["working"] = execution.lane_bytes(fn, abstract, one_lane, one, jnp.int32(0))
    return sizes

  def describe(self) -> dict:
    """config.json's content: the config, the lanes, randomness, data, plan,
    and the jaxmem and workdir format that wrote it."""
    ds = self.dataset
    return dict(
        config=self.config.to_dict(),
        lanes=[dict(self.lanes.describe(i), resolved=lanes_lib.resolved(self.lanes, i))
               for i in range(self.num_lanes)],
        randomness=lanes_lib.randomness(self.config),
        dataset=dict(name=ds.name, source=ds.source, num_classes=ds.num_classes,
                     train_shape=ds.train.images.shape, test_shape=ds.test.images.shape),
        measures=[m.name for m in self.measures],
        **({"pruning": self.pruning} if self.pruning else {}),
        execution=dict(self.plan.describe(),
                       cached_inputs=self.constants.images is not None,
                       eval_chunk=self.task.eval_chunk,
                       # How convolutions run, for models that have them.
                       convolutions=layers.conv_form()),
        versions=dict(jaxmem=version.__version__, workdir_format=formats.FORMAT,
                      python=platform.python_version(), jax=jax.__version__,
                      flax=flax.__version__, optax=optax.__version__,
                      numpy=np.__version__))


def _register_recorded_parts(config, config_file: dict | None) -> None:
  """Loads the sweep file a run was trained from again, if the model or data
  set it registered under a name is not registered in this process: from its
  path, or, where it has gone, from the text config.json recorded."""
  if not config_file or ((config.model in models.MODELS or ":" in config.model) and (
      config.dataset in datasets.DATASETS or ":" in config.dataset)):
    return
  path = config_file["path"]
  if not os.path.isfile(path):
    folder = tempfile.mkdtemp(prefix="jaxmem_sweep_")
    path = os.path.join(folder, os.path.basename(path))
    with open(path, "w") as f:
      f.write(config_file["text"])
  config_files.load_file(path + (f":{config_file['arg']}" if config_file.get("arg") else ""))


def _init_state(task, enabled, image_shape, lane: lanes_lib.Lane) -> steps.State:
  """One lane's initial state: parameters, optimizer, accumulators."""
  return steps.State(train=steps.init_state(task, lane, image_shape),
                     accumulators=measures_lib.init(list(enabled), task))


def _cache_inputs(config, task, plan, data, constants: lanes_lib.Lane,
                  memory: budget.Memory) -> lanes_lib.Lane:
  """The lanes with their corrupted images computed once (config.cache_inputs),
  if they have input corruptions and "auto" finds the copies small enough."""
  if config.cache_inputs == "off" or set(task.input_kinds) <= {"none"}:
    return constants
  n, m = task.num_train, task.num_test
  one = (n + m) * int(np.prod(data.train_images.shape[1:])) * 4
  per_device = -(-plan.padded_lanes // plan.num_devices) * one
  if config.cache_inputs == "auto" and per_device > 2**30:
    return constants
  budget.check_memory(dataclasses.replace(
      memory, state_per_lane=memory.state_per_lane + one),
                      execution.devices(), jax.default_backend())

  def corrupted(data, lane):
    return {split: steps.pixels(task, data, lane, jnp.arange(size), split)
            for split, size in (("train", n), ("test", m))}
  return constants.replace(images=plan.run_once(corrupted, data, constants))


def _one_lane_epoch(task, enabled):
  """The epoch program of ONE lane, as (data, lane, state, epoch) -> (train,
  in-epoch accumulators, per-lane sums)."""
  inside = tuple(m.name for m in enabled if m.in_epoch)
  fn = epoch_lib.one_lane_epoch(task, list(enabled))
  return lambda d, l, s, e: fn(d, l, s.train, {k: s.accumulators[k] for k in inside}, e)


def _bytes_per_lane(task, enabled, data, lane, state) -> int | None:
  """One lane's memory for the automatic chunk on accelerators (None on CPU,
  where lanes run one at a time, or when config.lane_chunk is set)."""
  if task.config.lane_chunk or jax.default_backend() == "cpu":
    return None
  return execution.lane_bytes(_one_lane_epoch(task, enabled), data, lane, state,
                              jnp.int32(0))
