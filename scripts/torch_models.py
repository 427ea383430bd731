"""PyTorch twins of jaxmem's models, and the three ways to train seeds.

For scripts/bench_vs_torch.py: the same networks (parameter counts checked
against jaxmem's), the same loss and optimizer (SGD with momentum, or plain
SGD with MSE for LeCun 1989), float32, data already in memory.

Variants:
  loop   one seed at a time in one process (all threads);
  procs  seeds split over processes, one thread each, run at the same time;
  vmap   `torch.func.vmap` over the seeds' stacked parameters, one process.

The CIFAR twins (ResNet18, VGG16, WRN28) and `load_flax` serve
tests/test_cifar_models.py: the same weights give the same outputs.
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



# The CIFAR networks of jaxmem.models.cifar: the same modules under the same
# names (a torch name's ".<i>." is flax's "_<i>"), so that `load_flax` can
# copy a flax model's variables in. Default PyTorch init (not flax's).

def _conv3(cin, cout, stride=1, bias=False):
  return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


class BasicBlock(nn.Module):
  """kuangliu's BasicBlock (shortcut conv and BN as two attributes)."""

  def __init__(self, cin, cout, stride):
    super().__init__()
    self.conv1, self.bn1 = _conv3(cin, cout, stride), nn.BatchNorm2d(cout)
    self.conv2, self.bn2 = _conv3(cout, cout), nn.BatchNorm2d(cout)
    self.projects = stride != 1 or cin != cout
    if self.projects:
      self.shortcut_conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
      self.shortcut_bn = nn.BatchNorm2d(cout)

  def forward(self, x):
    out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    return F.relu(out + (self.shortcut_bn(self.shortcut_conv(x)) if self.projects else x))


class PreActBlock(nn.Module):
  """kuangliu's PreActBlock: the projection sees the pre-activated input."""

  def __init__(self, cin, cout, stride):
    super().__init__()
    self.bn1, self.conv1 = nn.BatchNorm2d(cin), _conv3(cin, cout, stride)
    self.bn2, self.conv2 = nn.BatchNorm2d(cout), _conv3(cout, cout)
    self.projects = stride != 1 or cin != cout
    if self.projects:
      self.shortcut_conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

  def forward(self, x):
    out = F.relu(self.bn1(x))
    shortcut = self.shortcut_conv(out) if self.projects else x
    return self.conv2(F.relu(self.bn2(self.conv1(out)))) + shortcut


class ResNet18(nn.Module):
  """kuangliu's CIFAR ResNet18 (11,173,962 parameters) or PreActResNet18 (11,171,146)."""

  def __init__(self, classes=10, preact=False, width=64, stage_sizes=(2, 2, 2, 2)):
    super().__init__()
    self.preact = preact
    self.conv1 = _conv3(3, width)
    if not preact:
      self.bn1 = nn.BatchNorm2d(width)
    block, cin = (PreActBlock if preact else BasicBlock), width
    for i, blocks in enumerate(stage_sizes):
      stage = []
      for j in range(blocks):
        stage.append(block(cin, width * 2 ** i, 2 if i > 0 and j == 0 else 1))
        cin = width * 2 ** i
      setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
    self.stages = len(stage_sizes)
    self.linear = nn.Linear(cin, classes)

  def forward(self, x):
    out = self.conv1(x) if self.preact else F.relu(self.bn1(self.conv1(x)))
    for i in range(self.stages):
      out = getattr(self, f"layer{i + 1}")(out)
    return self.linear(out.mean((2, 3)))  # kuangliu: avg_pool2d(out, 4).


class VGG16(nn.Module):
  """kuangliu's VGG('VGG16') with `classes` outputs: 14,728,266 parameters for 10."""
  CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
         512, 512, 512, "M", 512, 512, 512, "M")

  def __init__(self, classes=10):
    super().__init__()
    widths = [v for v in self.CFG if v != "M"]
    self.convs = nn.ModuleList(_conv3(cin, cout, bias=True)
                               for cin, cout in zip([3] + widths[:-1], widths))
    self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in widths)
    self.classifier = nn.Linear(512, classes)

  def forward(self, x):
    i = 0
    for v in self.CFG:
      if v == "M":
        x = F.max_pool2d(x, 2, 2)
      else:
        x, i = F.relu(self.bns[i](self.convs[i](x))), i + 1
    return self.classifier(x.flatten(1))  # After kuangliu's AvgPool2d(1).


class WideBasic(nn.Module):
  """xternalz's WRN BasicBlock; the projection sees the pre-activated input."""

  def __init__(self, cin, cout, stride, dropout=0.0):
    super().__init__()
    self.bn1, self.conv1 = nn.BatchNorm2d(cin), _conv3(cin, cout, stride)
    self.bn2, self.conv2 = nn.BatchNorm2d(cout), _conv3(cout, cout)
    self.dropout = dropout
    self.projects = stride != 1 or cin != cout
    if self.projects:
      self.shortcut_conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

  def forward(self, x):
    o = F.relu(self.bn1(x))
    out = F.dropout(F.relu(self.bn2(self.conv1(o))), p=self.dropout, training=self.training)
    return self.conv2(out) + (self.shortcut_conv(o) if self.projects else x)


class WRN28(nn.Module):
  """xternalz's WideResNet(depth 28, widen_factor k): 36,479,194 parameters for k=10."""

  def __init__(self, classes=10, widen_factor=10, depth=28, dropout=0.0):
    super().__init__()
    blocks, cin = (depth - 4) // 6, 16
    self.conv1 = _conv3(3, 16)
    for g, width in enumerate((16, 32, 64)):
      group = []
      for j in range(blocks):
        group.append(WideBasic(cin, width * widen_factor, 2 if g > 0 and j == 0 else 1, dropout))
        cin = width * widen_factor
      setattr(self, f"block{g + 1}", nn.Sequential(*group))
    self.bn1, self.fc = nn.BatchNorm2d(cin), nn.Linear(cin, classes)

  def forward(self, x):
    out = self.block3(self.block2(self.block1(self.conv1(x))))
    return self.fc(F.relu(self.bn1(out)).mean((2, 3)))  # xternalz: avg_pool2d(out, 8).


def flax_path(torch_module_name: str) -> tuple[str, ...]:
  """A twin's module name -> the flax module path: "layer1.0.conv1" -> ("layer1_0", "conv1")."""
  path = []
  for part in torch_module_name.split("."):
    if part.isdigit():
      path[-1] += f"_{part}"
    else:
      path.append(part)
  return tuple(path)


def load_flax(model: nn.Module, variables) -> nn.Module:
  """Copies flax `variables` ({'params', 'batch_stats'}) into twin `model`, in place.

  Conv kernels HWIO -> OIHW, Dense kernels [in, out] -> Linear [out, in];
  BatchNorm scale, bias, mean, var -> weight, bias, running_mean, running_var.
  Raises KeyError or ValueError if a module or shape has no counterpart,
  and ValueError if a flax variable was left over.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  trees = {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}
  used = set()

  def get(collection, path, leaf):
    node = trees[collection]
    for key in path + (leaf,):
      node = node[key]
    used.add((collection,) + path + (leaf,))
    return torch.from_numpy(np.array(node, np.float32))

  def put(tensor, value):
    if tuple(tensor.shape) != tuple(value.shape):
      raise ValueError(f"shape {tuple(value.shape)} for {tuple(tensor.shape)}")
    tensor.copy_(value)

  with torch.no_grad():
    for name, m in model.named_modules():
      path = flax_path(name)
      if isinstance(m, nn.Conv2d):
        put(m.weight, get("params", path, "kernel").permute(3, 2, 0, 1))
      elif isinstance(m, nn.Linear):
        put(m.weight, get("params", path, "kernel").T)
      elif isinstance(m, nn.BatchNorm2d):
        put(m.weight, get("params", path, "scale"))
        put(m.running_mean, get("batch_stats", path, "mean"))
        put(m.running_var, get("batch_stats", path, "var"))
      else:
        continue
      if m.bias is not None:
        put(m.bias, get("params", path, "bias"))
  left = set(_leaf_paths(trees)) - used
  if left:
    raise ValueError(f"flax variables without a torch counterpart: {sorted(left)}")
  return model


def _leaf_paths(tree, prefix=()):
  for key, value in tree.items():
    if hasattr(value, "items"):
      yield from _leaf_paths(value, prefix + (key,))
    else:
      yield prefix + (key,)


# name -> (model class, input shape CHW, loss, learning rate, momentum)
WORKLOADS = {
    "mlp_1x512": (MLP, (3, 28, 28), "cross_entropy", 0.01, 0.9),
    "alexnet_small": (AlexNetSmall, (3, 28, 28), "cross_entropy", 0.01, 0.9),
    "lenet1989": (LeNet1989, (1, 16, 16), "mse", 0.03, 0.0),
    "resnet18": (ResNet18, (3, 32, 32), "cross_entropy", 0.1, 0.9),
}


def _loss(kind, logits, y):
  if kind == "cross_entropy":
    return F.cross_entropy(logits, y)
  return F.mse_loss(logits, 2.0 * F.one_hot(y, logits.shape[-1]).float() - 1.0)


def data(name: str, steps: int, batch: int, seed: int = 0, device: str = "cpu"):
  """Random inputs and labels for `steps` batches, in memory (on `device`)."""
  g = torch.Generator().manual_seed(seed)
  shape = WORKLOADS[name][1]
  return (torch.randn(steps, batch, *shape, generator=g).to(device),
          torch.randint(0, 10, (steps, batch), generator=g).to(device))


def train_seed(name: str, x, y, seed: int, device: str = "cpu") -> None:
  """Trains one seed over the batches x [S, B, ...], y [S, B] (a plain loop)."""
  cls, _, loss_kind, lr, momentum = WORKLOADS[name]
  torch.manual_seed(seed)
  model = cls().to(device)
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


def vmap_trainer(name: str, lanes: int, device: str = "cpu"):
  """Returns train(x, y) that trains `lanes` seeds at once with torch.func.vmap
  (BatchNorm with batch statistics only: vmap cannot update running ones)."""
  from torch.func import functional_call, grad, replace_all_batch_norm_modules_, stack_module_state, vmap  # pylint: disable=g-import-not-at-top,line-too-long
  cls, _, loss_kind, lr, momentum = WORKLOADS[name]
  models = [replace_all_batch_norm_modules_(cls().to(device)) for _ in range(lanes)]
  params, buffers = stack_module_state(models)
  base = replace_all_batch_norm_modules_(cls()).to("meta")
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
