"""Regenerate sample_problems/ from the built-in samples (run from the repo root)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlncli.problem_io import load_sample

SAMPLES = {
    "line": "line",
    "plane": "plane",
    "random3x5": "random3x5",
    "kink_0.1": "kink:0.1",
    "kink_0.01": "kink:0.01",
    "gauss_50x200": "gauss:50:200:10:1",
    "simplex_face2d": "simplex",
    "face2d": "face2d",
    "signs_face2d": "signs",
}


def main() -> None:
    out = Path("sample_problems")
    out.mkdir(exist_ok=True)
    for stem, spec in SAMPLES.items():
        problem = load_sample(spec)
        arrays = {"A": problem.A, "y": problem.y}
        if problem.x_true is not None:
            arrays["x_true"] = problem.x_true
        np.savez(out / f"{stem}.npz", **arrays)  # type: ignore[arg-type]
        m, n = problem.shape
        header = ",".join([f"a{j + 1}" for j in range(n)] + ["y"])
        rows = [",".join(repr(float(v)) for v in [*problem.A[i], problem.y[i]]) for i in range(m)]
        text = f"# {spec}: one equation per row, a_1..a_N then y\n{header}\n" + "\n".join(rows)
        (out / f"{stem}.csv").write_text(text + "\n")


if __name__ == "__main__":
    main()
