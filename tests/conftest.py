"""Test-wide settings: never touch the network; real data from ../shared/data."""

import os
import pathlib

# Tests never download: a missing file must fail loudly, not fetch.
os.environ["JAXMEM_OFFLINE"] = "1"
# The real data sets (USPS, CIFAR-10 JPEG) live beside the checkout.
os.environ.setdefault(
    "JAXMEM_DATA_DIR",
    str(pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))
