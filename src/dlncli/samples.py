"""The built-in sample problems: one table, one entry per sample (docs/api.md).

An entry names the sample (``line``) or its pattern (``gauss:M:N:K:SEED``), the type of each
field (``float`` parsed as a plain decimal, ``int`` as plain digits), a validation that raises
``ProblemFormatError`` naming the spec, a builder returning (A (m, N), y (m,), x_true (N,) or
None), and a one-line description; parametric samples also give A's shape before it is built,
so the input cap is checked before anything is allocated. Adding a sample is adding an entry
to :data:`SAMPLES`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dlncli.arrays import FloatArray
from dlncli.errors import ProblemFormatError
from dlncli.problem import DECIMAL, INTEGER, Problem, check_size, parse_decimal

Built = tuple[FloatArray, FloatArray, FloatArray | None]
Value = float | int


@dataclass(frozen=True)
class Sample:
    """One built-in sample (see the module docstring).

    name : "line", or the prefix of a parametric sample ("gauss").
    fields : the parametric fields as (NAME, type), type ``float`` or ``int``; () when fixed.
    build : (field values) -> (A, y, x_true).
    description : one line for ``dlncli samples``.
    validate : (spec, field texts, field values) -> None, raising ProblemFormatError.
    shape : (field values) -> A's (m, N), for the input cap; None for fixed samples.
    """

    name: str
    fields: tuple[tuple[str, type], ...]
    build: Callable[..., Built]
    description: str
    validate: Callable[[str, Sequence[str], Sequence[Value]], None] | None = None
    shape: Callable[..., tuple[int, int]] | None = None

    @property
    def pattern(self) -> str:
        """The name as ``dlncli samples`` lists it: ``gauss:M:N:K:SEED``."""
        return ":".join([self.name, *(f for f, _ in self.fields)])

    @property
    def strict(self) -> re.Pattern[str]:
        """A well-formed spec of this sample (every field a plain number)."""
        parts = [re.escape(self.name)]
        parts += [DECIMAL.pattern if kind is float else INTEGER.pattern for _, kind in self.fields]
        return re.compile(":".join(parts), re.ASCII)


def _fixed(A: list[list[float]], y: list[float]) -> Callable[[], Built]:
    return lambda: (np.array(A, dtype=np.float64), np.array(y, dtype=np.float64), None)


def _kink(eps: float) -> Built:
    return np.array([[1.0, 1.0 - eps]]), np.array([1.0]), None


def _check_kink(spec: str, texts: Sequence[str], values: Sequence[Value]) -> None:
    (text,), (eps,) = texts, values
    if not 0 <= eps < 1:
        raise ProblemFormatError(f"{spec}: EPS is {eps:g}; expected 0 <= EPS < 1")
    if eps == 0 and float(text.lower().partition("e")[0]) != 0:
        raise ProblemFormatError(
            f"{spec}: EPS = {text} underflows to 0 in float64; "
            "expected 0 or EPS > 2**-54 = 5.55e-17"
        )
    if eps > 0 and 1.0 - eps == 1.0:
        raise ProblemFormatError(
            f"{spec}: EPS = {text} is below float64 resolution (1 - EPS rounds to 1, "
            "which would be kink:0); expected 0 or EPS > 2**-54 = 5.55e-17"
        )


def rounded_matvec(A: FloatArray, v: FloatArray) -> FloatArray:
    """A @ v correctly rounded, so that it is the same on every machine.

    BLAS sums a row in an order (and with FMA or not) that depends on the CPU, so ``A @ v``
    can differ in the last bit between machines: a sample or a seeded instance would then not
    be the same problem everywhere. Each product a*b is split exactly into p + e (Dekker's
    TwoProduct with Veltkamp's splitting, 2^27 + 1), and each row's 2N terms are summed by
    math.fsum, which rounds the exact sum once. Exact for entries whose products neither
    overflow nor fall into the subnormal range (true for the samples' data).
    """
    A = np.asarray(A, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    products = A * v
    split = 134217729.0  # 2^27 + 1
    a_big, v_big = split * A, split * v
    a_hi = a_big - (a_big - A)
    v_hi = v_big - (v_big - v)
    a_lo, v_lo = A - a_hi, v - v_hi
    errors = ((a_hi * v_hi - products) + a_hi * v_lo + a_lo * v_hi) + a_lo * v_lo
    # Exact products (v of +-1, as in a phase instance) leave only zero errors, which would
    # not change the sums; rows as lists of Python floats: fsum over numpy scalars is twice
    # as slow.
    terms = np.concatenate([products, errors], axis=1) if errors.any() else products
    return np.array(list(map(math.fsum, terms.tolist())), dtype=np.float64)


def _gauss_draws(rng: np.random.Generator, m: int, n: int, k: int) -> tuple[FloatArray, FloatArray]:
    """gauss's A and x_true, in the order of the draws from ``rng`` (noisy continues after)."""
    A = rng.standard_normal((m, n)) / math.sqrt(m)
    x_true = np.zeros(n)
    x_true[rng.choice(n, size=k, replace=False)] = rng.standard_normal(k)
    return A, x_true


def _gauss(m: int, n: int, k: int, seed: int) -> Built:
    A, x_true = _gauss_draws(np.random.default_rng(seed), m, n, k)
    return A, rounded_matvec(A, x_true), x_true


def _noisy(m: int, n: int, k: int, sigma: float, seed: int) -> Built:
    """gauss:M:N:K:SEED's A and x_true, y = A x_true (correctly rounded) + sigma z, z the next
    M standard normals of the same generator; each entry of y is one float64 multiply and one
    add, so y is the same on every machine."""
    rng = np.random.default_rng(seed)
    A, x_true = _gauss_draws(rng, m, n, k)
    noise = rng.standard_normal(m)
    return A, rounded_matvec(A, x_true) + sigma * noise, x_true


def _check_noisy(spec: str, texts: Sequence[str], values: Sequence[Value]) -> None:
    m, n, k, sigma, seed = values
    if m < 1 or n < 1 or not 0 <= k <= n or not sigma >= 0 or seed < 0:
        raise ProblemFormatError(
            f"{spec}: M={m}, N={n}, K={k}, SIGMA={sigma:g}, SEED={seed}; "
            "expected M, N >= 1, 0 <= K <= N, SIGMA >= 0, SEED >= 0"
        )


def noise_level(spec: str) -> float | None:
    """SIGMA of a ``noisy:M:N:K:SIGMA:SEED`` spec (the noise's standard deviation per entry
    of y); None for every other sample. The spec is parsed and validated as
    :func:`build_sample` does (ProblemFormatError otherwise)."""
    sample, values = _parse_spec(spec)
    return float(values[3]) if sample.name == "noisy" else None


def _check_gauss(spec: str, texts: Sequence[str], values: Sequence[Value]) -> None:
    m, n, k, seed = values
    if m < 1 or n < 1 or not 0 <= k <= n or seed < 0:
        raise ProblemFormatError(
            f"{spec}: M={m}, N={n}, K={k}, SEED={seed}; expected M, N >= 1, 0 <= K <= N, SEED >= 0"
        )


def _facet(m: int, n: int, k: int, d: int, seed: int) -> Built:
    """K columns with a_i^T lam = 1 inside a D-dim subspace, the rest with |a_i^T lam| <= 0.8,
    and y a positive combination of the K: BP's face {v >= 0 : A_K v = y} has dim K - D.

    Built so that the ties are exact in float64 (the certified verdict sees the float data
    as exact rationals): lam = e_1 / s, the facet columns are s * G c_i with small-integer
    G (first row e_1^T) and c_i (first entry 1), and s is a power of two near 1/sqrt(m)."""
    rng = np.random.default_rng(seed)
    scale = 2.0 ** round(-0.5 * math.log2(m))
    G = rng.integers(-2, 3, size=(m, d)).astype(np.float64)
    G[0] = 0.0
    G[0, 0] = 1.0
    coeffs = rng.integers(-2, 3, size=(d, k)).astype(np.float64)
    coeffs[0] = 1.0
    A = rng.standard_normal((m, n)) / math.sqrt(m)
    A[:, :k] = scale * (G @ coeffs)
    first = A[0, k:]
    A[0, k:] = np.where(np.abs(first) > 0.8 * scale, 0.8 * scale * np.sign(first), first)
    perm = rng.permutation(n)
    A = A[:, perm]
    v = np.zeros(n)
    v[np.argsort(perm)[:k]] = rng.uniform(0.5, 1.5, k)
    return A, rounded_matvec(A, v), None


def _check_facet(spec: str, texts: Sequence[str], values: Sequence[Value]) -> None:
    m, n, k, d, seed = values
    if not (1 <= d <= min(k, m) and k <= n and seed >= 0):
        raise ProblemFormatError(
            f"{spec}: M={m}, N={n}, K={k}, D={d}, SEED={seed}; "
            "expected 1 <= D <= min(K, M), K <= N, SEED >= 0"
        )


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "line",
        (),
        _fixed([[1, 1, 1], [3, 0, 1]], [3, 3]),
        "A=[[1,1,1],[3,0,1]], y=(3,3): BP minimizers form a segment (the paper's)",
    ),
    Sample(
        "plane",
        (),
        _fixed([[2, -1, 0, 1], [0, 3, 2, 0]], [0, 6]),
        "A=[[2,-1,0,1],[0,3,2,0]], y=(0,6): a segment plus an excluded column",
    ),
    Sample(
        "random3x5",
        (),
        _fixed(
            [
                [-0.111, 0.120, -0.370, -0.240, -1.197],
                [0.209, -0.972, -0.755, 0.324, -0.109],
                [0.210, -0.391, 0.235, 0.665, 0.353],
            ],
            [0.973, -0.039, -0.886],
        ),
        "a 3x5 instance with a unique BP minimizer, dual margin 0.745",
    ),
    # Minimizers: the triangle {x >= 0, x1 + x2 + x3 = 1, x4 = 0}, a 2-dimensional face.
    Sample(
        "simplex",
        (),
        _fixed([[1, 1, 1, 0.5]], [1]),
        "A=[[1,1,1,0.5]], y=1: minimizers form a triangle (2-dim face)",
    ),
    # Minimizers: {v >= 0: v1+v2+v3+v4 = 1, v2 + 2 v3 + 3 v4 = 1}, x5 = 0: a 2-dim face on
    # which each depth selects a different point.
    Sample(
        "face2d",
        (),
        _fixed([[1, 1, 1, 1, 0.5], [0, 1, 2, 3, 0]], [1, 1]),
        "A=[[1,1,1,1,.5],[0,1,2,3,0]], y=(1,1): 2-dim face, depth-dependent",
    ),
    Sample(
        "signs",
        (),
        _fixed([[1, -1, 1, -1, 0.5], [0, -1, 2, -3, 0]], [1, 1]),
        "face2d with columns 2 and 4 negated: a 2-dim face with mixed signs",
    ),
    Sample(
        "kink",
        (("EPS", float),),
        _kink,
        "A=[1, 1-EPS], y=1: unique for EPS>0; the non-uniform-rate family",
        validate=_check_kink,
    ),
    Sample(
        "gauss",
        (("M", int), ("N", int), ("K", int), ("SEED", int)),
        _gauss,
        "Gaussian A/sqrt(M), K-sparse ground truth, y = A x_true",
        validate=_check_gauss,
        shape=lambda m, n, k, seed: (m, n),
    ),
    Sample(
        "noisy",
        (("M", int), ("N", int), ("K", int), ("SIGMA", float), ("SEED", int)),
        _noisy,
        "gauss:M:N:K:SEED plus noise: y = A x_true + SIGMA z, z ~ N(0, I_M) drawn next "
        "from the same seed",
        validate=_check_noisy,
        shape=lambda m, n, k, sigma, seed: (m, n),
    ),
    Sample(
        "face",
        (("M", int), ("N", int), ("K", int), ("D", int), ("SEED", int)),
        _facet,
        "Gaussian-like, K columns on one certificate facet spanning a D-dim subspace: "
        "BP face of dimension K - D",
        validate=_check_facet,
        shape=lambda m, n, k, d, seed: (m, n),
    ),
)


def sample_descriptions() -> dict[str, str]:
    """Every built-in sample name (or pattern) with a one-line description."""
    return {sample.pattern: sample.description for sample in SAMPLES}


def find_sample(spec: str, *, strict: bool) -> Sample | None:
    """The entry ``spec`` refers to: a fixed name, or ``prefix:...`` of a parametric sample
    (``strict``: only when every field is a plain number, the rule that makes a sample name
    win over a same-named local file)."""
    for sample in SAMPLES:
        if not sample.fields:
            if spec == sample.name:
                return sample
        elif strict:
            if sample.strict.fullmatch(spec):
                return sample
        elif spec.startswith(sample.name + ":") and len(spec) > len(sample.name) + 1:
            return sample
    return None


def build_sample(spec: str, *, max_bytes: int | None = None) -> Problem:
    """The sample ``spec`` refers to, its fields parsed and validated (ProblemFormatError
    naming the spec otherwise), A's float64 size checked against ``max_bytes`` before it is
    built."""
    sample, values = _parse_spec(spec)
    if sample.shape is not None:
        m, n = sample.shape(*values)
        check_size(spec, f"A of shape ({m}, {n}) as float64", 8 * m * n, max_bytes)
    A, y, x_true = sample.build(*values)
    return Problem(spec, A, y, x_true, sigma=noise_level(spec))


def _parse_spec(spec: str) -> tuple[Sample, list[Value]]:
    """The entry ``spec`` refers to and its field values, parsed and validated."""
    sample = find_sample(spec, strict=False)
    if sample is None:
        raise ProblemFormatError(f"{spec}: not a file and not a sample; see 'dlncli samples'")
    rest = spec[len(sample.name) + 1 :]
    texts = [] if not sample.fields else [rest] if len(sample.fields) == 1 else rest.split(":")
    if len(texts) != len(sample.fields):
        names = ":".join(f for f, _ in sample.fields)
        raise ProblemFormatError(
            f"{spec}: has {len(texts)} fields after '{sample.name}:'; "
            f"expected {sample.name}:{names}"
        )
    values: list[Value] = [
        _parse_float(text, spec, name) if kind is float else _parse_int(text, spec, name)
        for text, (name, kind) in zip(texts, sample.fields, strict=True)
    ]
    if sample.validate is not None:
        sample.validate(spec, texts, values)
    return sample, values


def _parse_float(text: str, spec: str, field: str) -> float:
    try:
        value = parse_decimal(text)
    except ValueError:
        raise ProblemFormatError(
            f"{spec}: {field} is {text!r}; expected a plain decimal number such as 1e-3"
        ) from None
    if not math.isfinite(value):
        raise ProblemFormatError(f"{spec}: {field} is {text!r}; expected a finite number")
    return value


def _parse_int(text: str, spec: str, field: str) -> int:
    if INTEGER.fullmatch(text) is None or len(text) > 20:
        raise ProblemFormatError(
            f"{spec}: {field} is {text!r}; expected a plain decimal integer (digits 0-9)"
        )
    return int(text)
