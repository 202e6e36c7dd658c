"""Run each atheris fuzzer (``fuzz_*.py`` here) for a bounded time; a crash fails the test.

Each fuzzer runs in its own process for ``INFERWATCH_FUZZ_SECONDS`` (default
20) from its built-in seeds, with libFuzzer's ``-seed`` fixed (``INFERWATCH_FUZZ_SEED``,
default 1; 0 picks one at random). On a crash libFuzzer prints the input (also in
base64) and writes it to the fuzz work directory it names; replay it with
``python tests/fuzz/fuzz_<name>.py <crash file>``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FUZZERS = sorted(HERE.glob("fuzz_*.py"))
SECONDS = int(os.environ.get("INFERWATCH_FUZZ_SECONDS", "20"))
#: A fixed seed keeps CI's runs alike; set INFERWATCH_FUZZ_SEED=0 for a random one.
SEED = int(os.environ.get("INFERWATCH_FUZZ_SEED", "1"))


@pytest.mark.parametrize("script", FUZZERS, ids=lambda p: p.stem)
def test_fuzzer_finds_no_crash(script: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is in the 'fuzz' dependency group")
    proc = subprocess.run(
        [sys.executable, str(script), f"-max_total_time={SECONDS}", f"-seed={SEED}",
         "-timeout=20", "-rss_limit_mb=4096", "-print_final_stats=1"],
        capture_output=True, text=True, errors="replace", timeout=SECONDS + 120,
        cwd=HERE, check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{script.name} crashed:\n{output[-6000:]}"
    runs = [line for line in output.splitlines()
            if line.startswith("stat::number_of_executed_units")]
    assert runs and int(runs[0].split(":")[-1]) > 0, output[-3000:]
    print(f"{script.stem}: {runs[0].split(':')[-1].strip()} inputs in {SECONDS} s")


def test_there_are_fuzzers() -> None:
    assert {p.stem for p in FUZZERS} >= {"fuzz_asgi_capture", "fuzz_log_render"}
