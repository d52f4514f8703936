"""Start-up cost: wall time of ``dlncli --help`` and of ``import dlncli`` (issue 12).

Run: python -m bench.bench_startup [SRC ...]     Target (issue 12): --help under 0.25 s.

Each SRC (default: this checkout's src/) is put first on PYTHONPATH, so an older checkout's
src/ gives the "before" number on the same machine, interleaved with the "after" one.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import machine

REPEATS = 15
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "dlncli --help": ["-m", "dlncli", "--help"],
    "import dlncli": ["-c", "import dlncli"],
}


def _wall(args: list[str], src: str) -> float:
    env = {**os.environ, "PYTHONPATH": src}
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _loads_numpy(src: str) -> bool:
    code = "import sys, dlncli.cli; print('numpy' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.strip() == "True"


def main() -> None:
    sources = sys.argv[1:] or [str(Path(__file__).resolve().parents[1] / "src")]
    print(f"machine: {machine()}")
    for src in sources:
        print(f"{src}: importing dlncli.cli loads numpy: {_loads_numpy(src)}")
    for label, args in COMMANDS.items():
        times: dict[str, list[float]] = {src: [] for src in sources}
        for _ in range(REPEATS):  # interleaved, so load changes hit every source alike
            for src in sources:
                try:
                    times[src].append(_wall(args, src))
                except subprocess.CalledProcessError:
                    times[src].append(float("nan"))
        for src in sources:
            ts = times[src]
            print(
                f"{label:24s} {src}: median {statistics.median(ts):.3f} s, "
                f"min {min(ts):.3f} s over {REPEATS} runs"
            )


if __name__ == "__main__":
    main()
