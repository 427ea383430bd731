"""examples.npz: what a finished run records per example, written from its state.

Every measure's per-example record (`Measure.record` of its accumulators),
beside the lanes' constants (trained labels, subsets, seeds, grid points) and
the data set's labels and ids, one array at a time, so that the host never
holds all of a large run's records at once.
"""

import numpy as np

from jaxmem.runtime import host_memory


def write(wd, run, accumulators: dict, diverged_epoch) -> None:
  """examples.npz: every measure's per-example record, and the lanes' constants.

  Args:
    accumulators: the state's per-example accumulators by measure, on the
      device; each measure's are brought to the host, made into its records
      and written in turn, so that the host holds one measure's at a time (at
      1,024 lanes x 50,000 examples, the whole lot is about 1 GB).
  """
  ds, lanes, task = run.dataset, run.lanes, run.task
  n = len(ds.train.labels)
  # The lanes' labels and subsets come home in the narrowest dtype that holds
  # them (int8 and uint16 instead of int32 for CIFAR-10: a quarter and a half).
  constants = run.host(dict(
      labels=run.constants.labels.astype(task.class_dtype),
      subset=run.constants.subset.astype(task.example_index_dtype)))
  labels = constants["labels"]

  def fields():
    yield from dict(train_index=ds.train.index, test_index=ds.test.index,
                    clean_labels=ds.train.labels, test_labels=ds.test.labels).items()
    yield "labels", labels.astype(np.int32)  # As trained on; widened to write.
    yield from dict(lane_seed=lanes.seed_index, lane_point=lanes.point,
                    diverged_epoch=diverged_epoch,
                    epochs=np.int64(run.config.num_epochs)).items()
    # AUM's threshold samples (the extra class) are not label noise.
    yield "corrupted", (labels != ds.train.labels[None, :]) & (labels < ds.num_classes)
    member = np.zeros((run.num_lanes, n), bool)
    np.put_along_axis(member, constants.pop("subset"), True, axis=1)
    yield "in_subset", member
    del member
    for measure in run.measures:
      record = measure.record(run.host(accumulators.pop(measure.name)), task)
      for name in list(record):
        value = record.pop(name)
        yield name, value
        if name == "train_pred":
          yield "train_correct", value == labels
        if name == "test_pred":
          yield "test_correct", value == ds.test.labels[None, :]
        del value
      host_memory.release()

  wd.write_examples(fields())
