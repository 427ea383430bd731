"""Prepared scripts that must keep working: the accelerator check's CPU smoke run."""

import os
import pathlib
import signal
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_accelerator_check_runs_in_smoke_mode_on_cpu(tmp_path):
  page = tmp_path / "gpu.md"
  proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "accelerator_check.sh"),
                           "--smoke", f"--page={page}"], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=dict(os.environ, JAXMEM_OFFLINE="1"),
                          start_new_session=True)
  try:
    out, _ = proc.communicate(timeout=300)
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    raise AssertionError("the smoke run took over 300 s and was killed")
  assert proc.returncode == 0, out[-3000:]
  text = page.read_text()
  for workload in ("lenet1989", "mlp_1x512", "resnet18"):
    rows = [l for l in text.splitlines() if l.startswith(f"| {workload} |")]
    assert rows, text
    for row in rows:  # Every rate measured, and positive.
      cells = [c.strip() for c in row.strip("|").split("|")]
      assert all(float(c.replace(",", "")) > 0 for c in cells[4:7]), row
  assert "## More lanes than fit at once" in text and "vmapped together" in text
