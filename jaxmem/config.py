"""A run's config: the base every sweep starts from, and its validation.

An experiment's `get_config()` (jaxmem.sweeps) returns a ConfigDict built on
`base_config()`.
Every field is declared (and commented) here, so the config is locked: a
misspelt `--config.KEY` is an error, not a silently ignored value. `validate`
checks every value before anything compiles (jaxmem.lanes expands the grid
into lanes). Configs from files (sweep files by path, the configs workdirs
hold) are read and compared in jaxmem.config_files.
"""

import ml_collections

from jaxmem import errors
from jaxmem import optim
from jaxmem.datasets import corruption
from jaxmem.datasets import preprocess
from jaxmem.models import precision

# Grid axes that a lane may vary. Numeric axes become per-lane arrays inside the
# compiled program, so changing them never recompiles.
NUMERIC_AXES = ("learning_rate", "weight_decay", "momentum", "label_corruption")
GRID_AXES = NUMERIC_AXES + ("input_corruption", "condition", "prune")

# Zhang et al. (2017) section 2: the randomization tests, as named presets of
# (label corruption level, input corruption).
CONDITIONS = {
    "true_labels": dict(label_corruption=0.0, input_corruption="none"),
    "random_labels": dict(label_corruption=1.0, input_corruption="none"),
    "shuffled_pixels": dict(label_corruption=0.0, input_corruption="shuffled_pixels"),
    "random_pixels": dict(label_corruption=0.0, input_corruption="random_pixels"),
    "gaussian": dict(label_corruption=0.0, input_corruption="gaussian"),
}
LOSSES = ("cross_entropy", "mse")
# Per-example scores a run can record (config.scores.names).
SCORES = ("aum", "data_map", "loss", "entropy", "el2n", "grand")


def base_config() -> ml_collections.ConfigDict:
  """Returns the defaults every experiment starts from (unlocked; sweeps lock it)."""
  c = ml_collections.ConfigDict()
  # Data. `dataset` names a loader in jaxmem.datasets.DATASETS, or is
  # "tfds:<name>" for any TFDS image classification data set (prepared).
  c.dataset = "digits"
  c.train_size = 0  # Keep only the first N training examples; 0 keeps all.
  # A .npy file of positions in those training examples to train on (Toneva et
  # al.'s removal experiment); "" trains on all. Its SHA-256 is recorded in
  # the run's config.json (dataset.source).
  c.train_indices = ""
  # Hold-out estimators (Jiang et al. 2021; Feldman & Zhang 2020): each lane
  # trains on its own random subset of this fraction of the training set (all
  # of equal size, so lanes stack) and is evaluated on all of it; 0 trains
  # every lane on the whole set.
  c.subset_ratio = 0.0
  # Data pruning (jaxmem.datasets.pruning; a grid axis): how a lane chooses the
  # training examples it keeps: "none" (all, or subset_ratio's), "random", or
  # "<rule>:<score>" with rule hardest, easiest or stratified (coverage-centric,
  # Zheng et al. 2023) and score a column of pruning.scores ("hardest:el2n",
  # "stratified:aum"; "+S"/"-S" where higher/lower S is harder).
  c.prune = "none"
  c.pruning = ml_collections.ConfigDict(dict(
      fraction=1.0,  # The fraction of the training set a pruned lane keeps, in (0, 1].
      # Per-example scores in official ids: a jaxmem difficulty table (.csv,
      # .parquet) or an .npz of score arrays (with `index`, else positions).
      scores="",
      group="",  # The difficulty table's group of lanes to read, where it holds several.
      strata=50,  # stratified: strata of equal score width (Zheng et al.: 50).
      # stratified: the hardest fraction dropped before the strata (Zheng et
      # al.'s beta: 0 at low pruning rates, up to 0.3 at 90% pruned).
      hard_cutoff=0.0,
  ))
  c.test_size = 0  # Keep only the first N test examples; 0 keeps all.
  # Options of the `synthetic` dataset (Gaussian inputs, random labels).
  c.synthetic = ml_collections.ConfigDict(dict(
      num_train=1024,  # Training examples.
      num_test=256,  # Test examples.
      shape=(8, 8, 1),  # Image shape, HWC.
      num_classes=10,  # Number of classes.
      seed=0,  # Seed of the generator (data, not training, randomness).
  ))

  # Preprocessing, applied inside the step (pure, keyed per lane).
  c.preprocess = ml_collections.ConfigDict(dict(
      # In training, zero-pad each side by this many pixels and crop back to
      # the image's size at a random offset (RandomCrop(32, padding=4) of the
      # CIFAR ResNet recipes: 4); 0: no padded crop.
      pad=0,
      crop=0,  # Centre-crop to crop x crop (Zhang: 28); 0 keeps the full image.
      random_crop=False,  # In training, crop at a random offset instead.
      random_flip=False,  # In training, flip horizontally with probability 1/2.
      # In training, roll each image by up to this many pixels along each axis,
      # wrapping around (Karpathy's modern LeNet 1989: 1); 0: no shift.
      random_shift=0,
      normalize="none",  # One of preprocess.NORMALIZATIONS.
  ))

  # Model: a name in jaxmem.models.MODELS (the built-ins, or one a sweep file
  # registered with jaxmem.register_model), or "module:attribute" naming a
  # Flax Linen Module class or a factory by import path (the protocol:
  # jaxmem/models/__init__.py).
  c.model = "mlp_1x512"
  # Options of the model, passed to it beside num_classes (widths, depths...).
  c.model_kwargs = ml_collections.ConfigDict()
  c.mlp_widths = (512,)  # Hidden widths of the generic `mlp` model only.
  c.dropout_rate = 0.0  # Dropout rate, for models that have dropout.

  # Lanes: the grid (x num_seeds) expands into lanes, all trained at once.
  c.seed = 0  # The one integer every random stream derives from.
  c.num_seeds = 8  # Seeds per grid point.
  # The first seed index: lanes get seed indices first_seed, ...,
  # first_seed + num_seeds - 1, and a lane's result depends only on its seed
  # index, so one sweep's seeds can be split over hosts or jobs and pooled.
  c.first_seed = 0
  c.grid = ml_collections.ConfigDict({axis: () for axis in GRID_AXES})
  c.grid.lock()  # Only the axes above exist; each is a tuple of values.
  # How lanes run: this many lanes are vmapped together, chunks one after
  # another inside the same compiled program. 0 chooses by backend.
  c.lane_chunk = 0
  # Devices the lanes are split over (evenly, by shard_map); 0: every local device.
  c.num_devices = 0

  # Training.
  c.num_epochs = 100  # Passes over the training set.
  c.batch_size = 64  # Examples per step; an epoch drops the remainder.
  # Examples per evaluation chunk: memory and speed only, never results. On
  # CPU, 256 evaluated LeNet-1989 2x faster than 2048 and the small AlexNet
  # 1.35x faster than 1024, the MLP within 5% of its best (cache-sized chunks;
  # scripts/bench_eval_batch.py). On CPU, lanes vmapped together share it
  # (each evaluates eval_batch_size // chunk examples at a time); elsewhere
  # each lane evaluates this many at a time (jaxmem.execution.eval_chunk).
  c.eval_batch_size = 256
  c.loss = "cross_entropy"  # One of LOSSES; "mse" is to +-1 targets (LeCun 1989).
  # The dtype the model computes in (jaxmem.models.precision.DTYPES): "float32", or
  # "bfloat16" (mixed precision: parameters, optimizer state, losses and
  # records stay float32).
  c.dtype = "float32"
  c.optimizer = "sgd"  # One of optim.OPTIMIZERS.
  c.nesterov = False  # Nesterov momentum, for sgd.
  c.learning_rate = 0.01  # Base learning rate (a grid axis).
  c.momentum = 0.9  # SGD momentum, or Adam's b1 (a grid axis).
  c.weight_decay = 0.0  # L2 for sgd/adam, decoupled for adamw (a grid axis).
  c.schedule = "constant"  # One of optim.SCHEDULES.
  c.decay_rate = 0.95  # `exponential`: lr x decay_rate per epoch (Zhang).
  c.milestones = ()  # `multistep`: epochs after which lr is multiplied by gamma.
  c.gamma = 0.1  # `multistep`: the factor at each milestone.
  c.final_factor = 1.0 / 3  # `linear`: the last epoch's lr over the base lr.

  # Corruption (Zhang et al. 2017 section 2); both are grid axes too.
  c.label_corruption = 0.0  # Level p in [0, 1]; 1 is random labels.
  c.label_corruption_kind = "uniform"  # One of corruption.LABEL_KINDS.
  c.input_corruption = "none"  # One of corruption.INPUT_KINDS.
  # "per_seed": each seed index draws its own corruption; "shared": one draw
  # for every lane (Zhang's one fixed random labelling).
  c.corruption_draw = "per_seed"

  # Critical sample ratio (Arpit et al. 2017): a Langevin adversarial search
  # in an L-inf box around each example, in pixel space ([0, 1] images).
  c.critical = ml_collections.ConfigDict(dict(
      every_epochs=0,  # Measure every N epochs of training (and the last); 0: never.
      examples=256,  # Training examples measured, evenly spaced over the set.
      radius=0.3 / 255,  # Half-width r of the box (Arpit: 0.3/255).
      step=0.25 / 255,  # Step along the gradient's sign (Arpit: 0.25/255).
      noise=0.2 / 255,  # Std of the Gaussian noise added per step (Arpit: 0.2/255).
      iterations=100,  # Most search steps per example (Arpit: 100).
      # Arpit's code stops the whole search once an iteration finds fewer than
      # 20 new critical samples; 20 does the same, 0 searches each example on.
      stop_below=0,
  ))

  # What a run records (jaxmem.measures). Evaluate the train and test splits
  # every N epochs and after the last; rows of other epochs hold null there.
  c.eval_every_epochs = 1
  # The full per-epoch history of every example ([lanes, epochs, N] predictions
  # and presentations, in <workdir>/history/, jaxmem.workdir.history): "on", "off", or
  # "auto" (on when it would take under 256 MB). Per-example accumulators
  # (forgetting, learned, settled epochs, ...) are recorded whatever this says.
  c.record_history = "auto"
  # Input corruptions (shuffled/random pixels, Gaussian) computed once per run
  # and kept on the device, [lanes, N + M, H, W, C] float32, instead of
  # regenerated at every step; the same values either way (pure functions of
  # the lane's key and the example): "on", "off", or "auto" (on when a lane has
  # an input corruption and the copies take under 1 GB per device).
  c.cache_inputs = "auto"
  # Prediction depth (Baldock et al. 2021) after the last epoch: k of the k-NN
  # probes (Baldock: 30); 0: not during training (jaxmem analyze computes it).
  c.depth = ml_collections.ConfigDict(dict(k=0))
  # Per-example scores (jaxmem.measures.scores), recorded in examples.npz and
  # the difficulty table; none by default (they cost memory: O(lanes x N) each).
  c.scores = ml_collections.ConfigDict(dict(
      # Any of SCORES: "aum" (margins and their mean, Pleiss et al. 2020),
      # "data_map" (confidence, variability, correctness, Swayamdipta et al.
      # 2020), "loss", "entropy" (from each training presentation), "el2n",
      # "grand" (Paul et al. 2021, at the epochs below).
      names=(),
      el2n_epochs=(),  # EL2N after these epochs; 0 is the initialization.
      grand_epochs=(),  # GraNd after these epochs; 0 is the initialization.
      # Training examples per per-example-gradient chunk of GraNd (memory and
      # speed only, never results).
      grand_chunk=32,
      # AUM's threshold samples: a random N/(C+1) of each lane's examples
      # relabelled to an extra class C (the model gets C+1 outputs); needs "aum".
      threshold_samples=False,
  ))
  # Write TensorBoard curves, a run per grid point (needs the [tensorboard]
  # extra; jaxmem.workdir.tensorboard).
  c.tensorboard = False
  c.tensorboard_lanes = False  # With it, also a run per lane.

  # Checkpoints (Orbax, in <workdir>/checkpoints): a rerun of the same command
  # resumes from the newest good one.
  c.checkpoint_every_epochs = 5  # Save every N epochs (and at the end); 0: end only.
  c.checkpoint_keep = 2  # Keep the newest K checkpoints (>= 1).
  return c


def validate(config) -> None:
  """Raises UserError for the first invalid value, naming what is valid.

  Runs before any data is loaded or anything compiles. Checks that need the
  data (batch size vs. dataset size) live in `jaxmem.run`.
  """
  # pylint: disable=g-import-not-at-top
  from jaxmem import datasets
  from jaxmem import models
  from jaxmem.datasets import pruning
  datasets.check_name(config.dataset)
  if ":" not in config.model:  # "module:Class" imports when the run is built.
    errors.check_choice("model", config.model, list(models.MODELS) + ["module:Class"])
  errors.check_choice("config.loss", config.loss, LOSSES)
  errors.check_choice("config.dtype", config.dtype, precision.DTYPES)
  errors.check_choice("config.optimizer", config.optimizer, optim.OPTIMIZERS)
  errors.check_choice("config.schedule", config.schedule, optim.SCHEDULES)
  errors.check_choice("config.label_corruption_kind",
                      config.label_corruption_kind, corruption.LABEL_KINDS)
  errors.check_choice("config.corruption_draw", config.corruption_draw,
                      ("per_seed", "shared"))
  errors.check_choice("config.preprocess.normalize",
                      config.preprocess.normalize, preprocess.NORMALIZATIONS)
  _integers(config, dict(
      seed=(0, 2**32 - 1), first_seed=(0, 2**31 - 1), num_seeds=(1, 2**31 - 1),
      num_epochs=(1, 10**7), batch_size=(1, None), eval_batch_size=(1, None),
      checkpoint_keep=(1, None), train_size=(0, None), test_size=(0, None),
      lane_chunk=(0, None), num_devices=(0, None),
      checkpoint_every_epochs=(0, None), eval_every_epochs=(1, None)))
  errors.check_choice("config.record_history", config.record_history,
                      ("auto", "on", "off"))
  errors.check_choice("config.cache_inputs", config.cache_inputs, ("auto", "on", "off"))
  _integers(config.depth, dict(k=(0, None)), "config.depth.")
  _validate_scores(config)
  if config.first_seed + config.num_seeds > 2**31:
    raise errors.UserError(
        f"config.first_seed + config.num_seeds must be <= 2**31, got "
        f"{config.first_seed} + {config.num_seeds}")
  _integers(config.preprocess, dict(crop=(0, None), random_shift=(0, None),
                                    pad=(0, None)),
            "config.preprocess.")
  _integers(config.critical, dict(every_epochs=(0, None), examples=(1, None),
                                  iterations=(1, 10**6), stop_below=(0, None)),
            "config.critical.")
  _integers(config.synthetic, dict(num_train=(1, None), num_test=(1, None),
                                   num_classes=(2, 2**15), seed=(0, 2**32 - 1)),
            "config.synthetic.")
  shape = tuple(config.synthetic.shape)
  if len(shape) != 3 or not all(isinstance(d, int) and d >= 1 for d in shape):
    raise errors.UserError(
        f"config.synthetic.shape must be three positive integers (H, W, C), got {shape}")
  widths = tuple(config.mlp_widths)
  if not widths or not all(isinstance(w, int) and 1 <= w <= 2**20 for w in widths):
    raise errors.UserError(
        f"config.mlp_widths must be one or more integers in 1..{2**20}, got {widths}")
  milestones = tuple(config.milestones)
  if not all(isinstance(m, int) and m >= 1 for m in milestones) or \
      list(milestones) != sorted(set(milestones)):
    raise errors.UserError(
        f"config.milestones must be increasing epochs >= 1, got {milestones}")
  _reals(config, dict(decay_rate=(0, None, False), gamma=(0, None, False),
                      final_factor=(0, None, True)))
  _reals(config.critical, dict(radius=(0, None, True), step=(0, None, True),
                               noise=(0, None, True)), "config.critical.")
  pruning.check(config)
  for key in ("subset_ratio", "dropout_rate"):
    if not errors.is_real(config[key]) or not 0.0 <= config[key] < 1.0:
      raise errors.UserError(f"config.{key} must be in [0, 1), got {config[key]}")
  # The config's own values, even where a grid axis shadows them, then each
  # value of each grid axis (every lane's values come from these).
  own = {a: config[a] for a in NUMERIC_AXES + ("input_corruption",)}
  _validate_point(own)
  for axis in GRID_AXES:
    for value in config.grid[axis]:
      if axis == "condition":
        errors.check_choice("condition", value, CONDITIONS)
        _validate_point({**own, **CONDITIONS[value]})
      else:
        _validate_point({**own, axis: value})


def _validate_scores(config) -> None:
  """config.scores: known names, each epoch score with its epochs inside the
  run, and threshold samples only with AUM."""
  scores = config.scores
  names = tuple(scores.names)
  unknown = [n for n in names if n not in SCORES]
  if unknown:
    raise errors.UserError(f"unknown score {unknown[0]!r} in config.scores.names; "
                           f"valid choices: {', '.join(SCORES)}")
  _integers(scores, dict(grand_chunk=(1, None)), "config.scores.")
  for name in ("el2n", "grand"):
    key = f"{name}_epochs"
    epochs = tuple(scores[key])
    if not all(isinstance(e, int) and not isinstance(e, bool) for e in epochs):
      raise errors.UserError(f"config.scores.{key} must be epochs (integers), got {epochs}")
    beyond = [e for e in epochs if not 0 <= e <= config.num_epochs]
    if beyond:
      raise errors.UserError(
          f"config.scores.{key}: epoch {beyond[0]} is outside the run; valid: "
          f"0 (initialization)..{config.num_epochs} (config.num_epochs)")
    if (name in names) != bool(epochs):
      raise errors.UserError(
          f"config.scores.{key} {epochs} with score {name!r} "
          f"{'in' if name in names else 'not in'} config.scores.names: "
          f"{name} needs both (e.g. names=('{name}',), {key}=(10,))")
  if not isinstance(scores.threshold_samples, bool):
    raise errors.UserError("config.scores.threshold_samples must be True or "
                           f"False, got {scores.threshold_samples!r}")
  if scores.threshold_samples and "aum" not in names:
    raise errors.UserError(
        "config.scores.threshold_samples calibrate AUM: add 'aum' to "
        "config.scores.names")


def _validate_point(point: dict) -> None:
  """Checks one lane's resolved values (after grid and condition presets)."""
  p = point["label_corruption"]
  if not errors.is_real(p) or not 0.0 <= p <= 1.0:
    raise errors.UserError(
        f"label corruption level must be a number in [0, 1], got {p!r}")
  errors.check_choice("input corruption", point["input_corruption"],
                      corruption.INPUT_KINDS)
  for key in ("learning_rate", "weight_decay"):
    if not errors.is_real(point[key]) or point[key] < 0:
      raise errors.UserError(
          f"{key} must be a finite number >= 0, got {point[key]!r}")
  if not errors.is_real(point["momentum"]) or not 0 <= point["momentum"] < 1:
    raise errors.UserError(
        f"momentum must be a number in [0, 1) (SGD's momentum, Adam's b1), got "
        f"{point['momentum']!r}")


def _integers(node, ranges: dict, prefix: str = "config.") -> None:
  """Checks integer fields against inclusive ranges (None: unbounded)."""
  for key, (low, high) in ranges.items():
    value = node[key]
    if (not isinstance(value, int) or isinstance(value, bool) or value < low
        or (high is not None and value > high)):
      valid = f"{low}..{high}" if high is not None else f">= {low}"
      raise errors.UserError(
          f"{prefix}{key} must be an integer {valid}, got {value!r}")


def _reals(node, ranges: dict, prefix: str = "config.") -> None:
  """Checks real fields: finite, above `low` (or equal, if inclusive)."""
  for key, (low, high, inclusive) in ranges.items():
    value = node[key]
    ok = errors.is_real(value) and (value >= low if inclusive else value > low) and (
        high is None or value <= high)
    if not ok:
      bound = f">= {low}" if inclusive else f"> {low}"
      raise errors.UserError(
          f"{prefix}{key} must be a finite number {bound}, got {value!r}")
