"""The noisy:M:N:K:SIGMA:SEED sample (samples.py): gauss:M:N:K:SEED's A and x_true, and
y = A x_true + SIGMA z with z the next M standard normals of the same generator."""

from __future__ import annotations

import numpy as np
import pytest

from dlncli.errors import ProblemFormatError
from dlncli.problem_io import is_sample_spec, load_sample
from dlncli.samples import noise_level, rounded_matvec


@pytest.mark.parametrize(
    ("m", "n", "k", "seed"), [(5, 12, 3, 0), (50, 200, 10, 1), (4, 4, 0, 7), (1, 1, 1, 3)]
)
def test_zero_noise_is_gauss_bit_for_bit(m: int, n: int, k: int, seed: int) -> None:
    gauss = load_sample(f"gauss:{m}:{n}:{k}:{seed}")
    noisy = load_sample(f"noisy:{m}:{n}:{k}:0:{seed}")
    assert noisy.A.tobytes() == gauss.A.tobytes()
    assert noisy.y.tobytes() == gauss.y.tobytes()
    assert noisy.x_true is not None and gauss.x_true is not None
    assert noisy.x_true.tobytes() == gauss.x_true.tobytes()


def test_the_noise_is_the_next_draws_of_the_same_generator() -> None:
    # Drawn here independently of samples.py: A, then the support and values of x_true,
    # then z, all from default_rng(SEED).
    m, n, k, sigma, seed = 30, 80, 6, 0.25, 11
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    x_true = np.zeros(n)
    x_true[rng.choice(n, size=k, replace=False)] = rng.standard_normal(k)
    z = rng.standard_normal(m)
    problem = load_sample(f"noisy:{m}:{n}:{k}:{sigma}:{seed}")
    np.testing.assert_array_equal(problem.A, A)
    assert problem.x_true is not None
    np.testing.assert_array_equal(problem.x_true, x_true)
    np.testing.assert_array_equal(problem.y, rounded_matvec(A, x_true) + sigma * z)
    # The noise has the size asked for: ||y - A x_true|| / sqrt(m) is about sigma.
    spread = np.linalg.norm(problem.y - A @ x_true) / np.sqrt(m)
    assert 0.5 * sigma < spread < 1.5 * sigma


def test_noise_is_seed_deterministic() -> None:
    first = load_sample("noisy:20:40:4:0.1:5")
    again = load_sample("noisy:20:40:4:0.1:5")
    assert first.y.tobytes() == again.y.tobytes()
    other = load_sample("noisy:20:40:4:0.1:6")
    assert not np.array_equal(first.y, other.y)
    # Scaling SIGMA scales the same noise vector.
    clean = load_sample("gauss:20:40:4:5").y
    doubled = load_sample("noisy:20:40:4:0.2:5").y
    np.testing.assert_allclose(doubled - clean, 2 * (first.y - clean), rtol=1e-12, atol=1e-15)


def test_noise_level_and_validation() -> None:
    assert noise_level("noisy:20:40:4:0.1:5") == 0.1
    assert noise_level("noisy:20:40:4:0:5") == 0.0
    assert noise_level("gauss:20:40:4:5") is None
    assert noise_level("line") is None
    assert is_sample_spec("noisy:20:40:4:1e-3:5")
    with pytest.raises(ProblemFormatError, match=r"SIGMA=-0\.1"):
        load_sample("noisy:20:40:4:-0.1:5")
    with pytest.raises(ProblemFormatError, match="expected a finite number"):
        load_sample("noisy:20:40:4:inf:5")
    with pytest.raises(ProblemFormatError, match="K=50"):
        noise_level("noisy:20:40:50:0.1:5")
    with pytest.raises(ProblemFormatError, match="expected noisy:M:N:K:SIGMA:SEED"):
        load_sample("noisy:20:40:4:0.1")
