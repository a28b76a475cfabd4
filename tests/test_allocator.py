"""The allocator settings change speed only, never results."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from sim.allocator import OPT_OUT_VARIABLE

RUN = """
import hashlib
import pandas as pd
from sim import simulate
from sim.allocator import tune_allocator
print(tune_allocator())
result = simulate("default", "standard", n_accounts=3_000, days=60, seed=4)
for frame in (result.metrics, result.daily, result.ledger):
    print(hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).values.tobytes()).hexdigest())
"""


def run_simulation(opt_out: bool) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key != OPT_OUT_VARIABLE}
    if opt_out:
        env[OPT_OUT_VARIABLE] = "1"
    completed = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True, check=True)
    return completed.stdout.split()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator is tuned with glibc only")
def test_tuned_allocator_gives_same_results():
    tuned = run_simulation(opt_out=False)
    default = run_simulation(opt_out=True)
    assert tuned[0] == "True"
    assert default[0] == "False"
    assert tuned[1:] == default[1:]
    assert len(tuned) == 4
