"""Write tests/data/limit_references.json: 60-digit mpmath flow limits (slow: minutes).

Run from the repo root: python tools/make_limit_references.py [PROBLEM_PREFIX ...]
With prefixes (e.g. ``gauss``), only the matching problems are recomputed; the other
entries are kept from the existing file. Every entry stores ``data_sha256`` (sha256 of
``A.tobytes() + y.tobytes()``) so a test can tell when a sample's data changed under it.
The reference (tests/reference/mp_limit.py) shares no code with dlncli.dln.limit.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import mpmath as mp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dlncli.problem_io import load_sample
from tests.reference.mp_limit import mp_flow_limit

PROBLEMS = ["line", "plane", "random3x5", "kink:0.1", "gauss:10:30:10:1", "gauss:10:30:4:2"]
DEPTHS = ["2", "2.5", "3", "4", "6"]
LOG10_ALPHAS = ["-1", "-3", "-6", "-9"]
EXTRA_P2 = ["-50", "-300"]
PATH = Path("tests/data/limit_references.json")


def data_sha256(name: str) -> str:
    """The hash the reference test recomputes: the sample's exact float64 bytes."""
    problem = load_sample(name)
    return hashlib.sha256(problem.A.tobytes() + problem.y.tobytes()).hexdigest()


def main(prefixes: list[str]) -> None:
    old: list[dict[str, object]] = json.loads(PATH.read_text()) if PATH.exists() else []
    kept = {(e["problem"], e["depth"], e["log10_alpha"]): e for e in old}
    out: list[dict[str, object]] = []
    for name in PROBLEMS:
        problem = load_sample(name)
        digest = data_sha256(name)
        redo = not prefixes or any(name.startswith(p) for p in prefixes)
        cases = [(d, a) for d in DEPTHS for a in LOG10_ALPHAS] + [("2", a) for a in EXTRA_P2]
        for depth, log10_alpha in cases:
            previous = kept.get((name, depth, log10_alpha))
            if not redo and previous is not None:
                out.append({**previous, "data_sha256": digest})
                continue
            start = time.perf_counter()
            x = mp_flow_limit(problem.A.tolist(), problem.y.tolist(), depth, log10_alpha)
            out.append(
                {
                    "problem": name,
                    "depth": depth,
                    "log10_alpha": log10_alpha,
                    "data_sha256": digest,
                    "x": [mp.nstr(v, 40, strip_zeros=False) for v in x],
                }
            )
            print(
                f"{name} p={depth} alpha=1e{log10_alpha}: {time.perf_counter() - start:.1f} s",
                flush=True,
            )
    PATH.parent.mkdir(exist_ok=True)
    PATH.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
