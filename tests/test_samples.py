"""The sample registry (samples.py): every sample's values are bit-for-bit fixed, on every
machine, and adding a sample is one entry. The fixed samples' hashes are those of the code
before the registry (main at ef54718); the gauss and face samples' y is the correctly rounded
A @ x since y = A @ x by BLAS was found to differ in the last bit between CPUs (an AMD EPYC
and the Intel Xeon the hashes were first taken on)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pytest

from dlncli import samples
from dlncli.errors import ProblemFormatError
from dlncli.problem_io import is_sample_spec, load_problem, load_sample
from dlncli.samples import sample_descriptions

# sha256 (first 32 hex digits) of shape and bytes of A, y and x_true, from the pre-registry code.
HASHES = {
    "line": "3d8400a804b5f7906e3002db84cb70a4",
    "plane": "b24f3dd5b319698aaf1098989c1a47d9",
    "random3x5": "024736f6ac7d0027005d40e56cd6a15b",
    "simplex": "f383f33263d39de131278f36741879d4",
    "face2d": "a3e229ac9bc8e856a046243c74e924b9",
    "signs": "ad6c3605dcb480ba96dcfaf6e86d4973",
    "kink:0.1": "d8ee2c55a73ef25efa399c016ad0bb8a",
    "kink:1e-7": "34edd9e653b55cc4cab655927700ee3a",
    "kink:0": "221799fe4fa311b6e966bcfa5f491cbc",
    "gauss:5:12:3:0": "ac66170f94ca5c5a27cce7fe50b167ca",
    "gauss:50:200:10:1": "57aa977322b85617c6ac77d51036e569",
    "face:20:60:8:3:0": "dc1ab9a63fdb15892a3213d1596d42bb",
    "face:200:1000:40:20:0": "46033e7eb129a0216dc3e32e3dd214e7",
}


def _digest(spec: str) -> str:
    problem = load_sample(spec)
    h = hashlib.sha256()
    arrays = (problem.A, problem.y) + (() if problem.x_true is None else (problem.x_true,))
    for arr in arrays:
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:32]


@pytest.mark.parametrize("spec", sorted(HASHES))
def test_samples_are_bit_for_bit_unchanged(spec: str) -> None:
    assert _digest(spec) == HASHES[spec]


@pytest.mark.parametrize("signs", [False, True])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (20, 60), (8, 300)])
def test_rounded_matvec_is_the_correctly_rounded_product(
    shape: tuple[int, int], signs: bool
) -> None:
    # Against exact rational arithmetic: each entry of A @ v rounded once. Magnitudes spread
    # over 1e-17 ... 1e17 make BLAS's rounding order visible (it differs from the exact value).
    # v of +-1 (a phase instance) takes the path where every product is exact.
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    A = rng.standard_normal(shape) * np.exp(rng.uniform(-40.0, 40.0, shape))
    v = rng.choice([-1.0, 1.0], shape[1]) if signs else rng.standard_normal(shape[1])
    exact = [
        float(sum(Fraction(a) * Fraction(b) for a, b in zip(row, v, strict=True))) for row in A
    ]
    assert samples.rounded_matvec(A, v).tolist() == exact


def test_every_entry_is_listed_and_loads() -> None:
    listed = sample_descriptions()
    assert list(listed) == [s.pattern for s in samples.SAMPLES]
    assert {"line", "kink:EPS", "gauss:M:N:K:SEED", "face:M:N:K:D:SEED"} <= set(listed)
    for sample in samples.SAMPLES:
        if not sample.fields:
            assert is_sample_spec(sample.name) and load_problem(sample.name).name == sample.name


def test_a_new_entry_is_all_it_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    def build(n: int) -> samples.Built:
        return np.eye(n), np.ones(n), None

    def check(spec: str, texts: Sequence[str], values: Sequence[float | int]) -> None:
        if values[0] < 1:
            raise ProblemFormatError(f"{spec}: N is {values[0]}; expected N >= 1")

    entry = samples.Sample(
        "eye", (("N", int),), build, "identity", validate=check, shape=lambda n: (n, n)
    )
    monkeypatch.setattr(samples, "SAMPLES", (*samples.SAMPLES, entry))
    assert sample_descriptions()["eye:N"] == "identity"
    assert is_sample_spec("eye:3") and not is_sample_spec("eye:x")
    np.testing.assert_array_equal(load_problem("eye:3").A, np.eye(3))
    with pytest.raises(ProblemFormatError, match="N is 0; expected N >= 1"):
        load_sample("eye:0")
    with pytest.raises(ProblemFormatError, match="N is 'x'; expected a plain decimal integer"):
        load_sample("eye:x")
    with pytest.raises(ProblemFormatError, match="more than the input cap"):
        load_sample("eye:100000", max_bytes=2**20)
