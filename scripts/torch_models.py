"""PyTorch twins of jaxmem's benchmarked models, and the three ways to train seeds.

For scripts/bench_vs_torch.py: the same networks (parameter counts checked
against jaxmem's), the same loss and optimizer (SGD with momentum, or plain
SGD with MSE for LeCun 1989), float32, data already in memory.

Variants:
  loop   one seed at a time in one process (all threads);
  procs  seeds split over processes, one thread each, run at the same time;
  vmap   `torch.func.vmap` over the seeds' stacked parameters, one process.
"""

import time

import torch
from torch import nn
import torch.nn.functional as F


class MLP(nn.Module):
  """jaxmem's mlp_1x512 on 28x28x3: 1,209,866 parameters."""

  def __init__(self, inputs=28 * 28 * 3, width=512, classes=10):
    super().__init__()
    self.hidden, self.out = nn.Linear(inputs, width), nn.Linear(width, classes)

  def forward(self, x):
    return self.out(F.relu(self.hidden(x.flatten(1))))


class AlexNetSmall(nn.Module):
  """Zhang et al.'s small AlexNet on 28x28x3: 1,387,786 parameters.

  torch's LocalResponseNorm divides alpha by the window size; TF's (and
  jaxmem's) does not, hence alpha = 0.001 / 9 * 9.
  """

  def __init__(self, classes=10):
    super().__init__()
    self.conv1, self.conv2 = nn.Conv2d(3, 64, 5, padding=2), nn.Conv2d(64, 64, 5, padding=2)
    self.lrn = nn.LocalResponseNorm(9, alpha=0.001, beta=0.75, k=1.0)
    self.fc1, self.fc2, self.out = nn.Linear(7 * 7 * 64, 384), nn.Linear(384, 192), nn.Linear(192, classes)

  def forward(self, x):
    for conv in (self.conv1, self.conv2):
      x = self.lrn(F.max_pool2d(F.relu(conv(x)), 3, 2, padding=1))
    return self.out(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


class LeNet1989(nn.Module):
  """Karpathy's (2022) repro of LeCun et al. (1989): 9,760 parameters."""

  def __init__(self):
    super().__init__()
    winit = lambda fan_in, *shape: (torch.rand(*shape) - 0.5) * 2 * 2.4 / fan_in ** 0.5
    self.H1w, self.H1b = nn.Parameter(winit(5 * 5 * 1, 12, 1, 5, 5)), nn.Parameter(torch.zeros(12, 8, 8))
    self.H2w, self.H2b = nn.Parameter(winit(5 * 5 * 8, 12, 8, 5, 5)), nn.Parameter(torch.zeros(12, 4, 4))
    self.H3w, self.H3b = nn.Parameter(winit(4 * 4 * 12, 4 * 4 * 12, 30)), nn.Parameter(torch.zeros(30))
    self.outw, self.outb = nn.Parameter(winit(30, 30, 10)), nn.Parameter(-torch.ones(10))

  def forward(self, x):
    x = torch.tanh(F.conv2d(F.pad(x, (2, 2, 2, 2), "constant", -1.0), self.H1w, stride=2) + self.H1b)
    x = F.pad(x, (2, 2, 2, 2), "constant", -1.0)
    x = torch.cat((F.conv2d(x[:, 0:8], self.H2w[0:4], stride=2),
                   F.conv2d(x[:, 4:12], self.H2w[4:8], stride=2),
                   F.conv2d(torch.cat((x[:, 0:4], x[:, 8:12]), 1), self.H2w[8:12], stride=2)), 1)
    x = torch.tanh(x + self.H2b).flatten(1)
    x = torch.tanh(x @ self.H3w + self.H3b)
    return torch.tanh(x @ self.outw + self.outb)


# name -> (model class, input shape CHW, loss, learning rate, momentum)
WORKLOADS = {
    "mlp_1x512": (MLP, (3, 28, 28), "cross_entropy", 0.01, 0.9),
    "alexnet_small": (AlexNetSmall, (3, 28, 28), "cross_entropy", 0.01, 0.9),
    "lenet1989": (LeNet1989, (1, 16, 16), "mse", 0.03, 0.0),
}


def _loss(kind, logits, y):
  if kind == "cross_entropy":
    return F.cross_entropy(logits, y)
  return F.mse_loss(logits, 2.0 * F.one_hot(y, logits.shape[-1]).float() - 1.0)


def data(name: str, steps: int, batch: int, seed: int = 0):
  """Random inputs and labels for `steps` batches, in memory."""
  g = torch.Generator().manual_seed(seed)
  shape = WORKLOADS[name][1]
  return (torch.randn(steps, batch, *shape, generator=g),
          torch.randint(0, 10, (steps, batch), generator=g))


def train_seed(name: str, x, y, seed: int) -> None:
  """Trains one seed over the batches x [S, B, ...], y [S, B] (a plain loop)."""
  cls, _, loss_kind, lr, momentum = WORKLOADS[name]
  torch.manual_seed(seed)
  model = cls()
  opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
  for xb, yb in zip(x, y):
    opt.zero_grad(set_to_none=True)
    _loss(loss_kind, model(xb), yb).backward()
    opt.step()


def worker(name: str, steps: int, batch: int, seeds: int, threads: int, queue) -> None:
  """A `procs` process: trains `seeds` seeds one after another, reports seconds."""
  torch.set_num_threads(threads)
  x, y = data(name, steps, batch)
  train_seed(name, x[:1], y[:1], 0)  # Warm-up.
  start = time.perf_counter()
  for seed in range(seeds):
    train_seed(name, x, y, seed)
  queue.put(time.perf_counter() - start)


def vmap_trainer(name: str, lanes: int):
  """Returns train(x, y) that trains `lanes` seeds at once with torch.func.vmap."""
  from torch.func import functional_call, grad, stack_module_state, vmap  # pylint: disable=g-import-not-at-top
  cls, _, loss_kind, lr, momentum = WORKLOADS[name]
  models = [cls() for _ in range(lanes)]
  params, buffers = stack_module_state(models)
  base = cls().to("meta")
  velocity = {k: torch.zeros_like(v) for k, v in params.items()}

  def loss(p, b, xb, yb):
    return _loss(loss_kind, functional_call(base, (p, b), (xb,)), yb)
  grads_of = vmap(grad(loss), in_dims=(0, 0, None, None))

  def train(x, y):
    with torch.no_grad():
      for xb, yb in zip(x, y):
        g = grads_of(params, buffers, xb, yb)
        for k in params:
          velocity[k].mul_(momentum).add_(g[k])
          params[k].sub_(lr * velocity[k])
  return train
