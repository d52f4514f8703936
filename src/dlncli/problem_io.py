"""Problem input and result output: the only module that touches files.

A problem is a pair (A, y) with A of shape (m, N) and y of shape (m,). It comes from a
.npz, .csv or .mat file, from stdin (``-``: CSV text or npz bytes), or from a built-in
sample name (see :data:`SAMPLES`).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from dlncli.errors import ProblemFormatError

FloatArray = NDArray[np.float64]

DEFAULT_PROBLEM = "line"


@dataclass(frozen=True)
class Problem:
    """A basis-pursuit / DLN problem A x = y.

    Attributes
    ----------
    name : where it came from (file name or sample spec), for messages and reports.
    A : (m, N) float64 matrix.
    y : (m,) float64 right-hand side.
    x_true : (N,) ground truth when the source provides one, else None.
    path : the resolved input file, or None for samples and stdin.
    """

    name: str
    A: FloatArray
    y: FloatArray
    x_true: FloatArray | None = None
    path: Path | None = None

    @property
    def shape(self) -> tuple[int, int]:
        m, n = self.A.shape
        return int(m), int(n)


# --------------------------------------------------------------------------- samples


def _fixed(A: list[list[float]], y: list[float]) -> tuple[FloatArray, FloatArray, None]:
    return np.array(A, dtype=np.float64), np.array(y, dtype=np.float64), None


def _line() -> tuple[FloatArray, FloatArray, None]:
    return _fixed([[1, 1, 1], [3, 0, 1]], [3, 3])


def _plane() -> tuple[FloatArray, FloatArray, None]:
    return _fixed([[2, -1, 0, 1], [0, 3, 2, 0]], [0, 6])


def _random3x5() -> tuple[FloatArray, FloatArray, None]:
    return _fixed(
        [
            [-0.111, 0.120, -0.370, -0.240, -1.197],
            [0.209, -0.972, -0.755, 0.324, -0.109],
            [0.210, -0.391, 0.235, 0.665, 0.353],
        ],
        [0.973, -0.039, -0.886],
    )


def _simplex() -> tuple[FloatArray, FloatArray, None]:
    # Minimizers: the triangle {x >= 0, x1 + x2 + x3 = 1, x4 = 0}, a 2-dimensional face.
    return _fixed([[1, 1, 1, 0.5]], [1])


def _face2d() -> tuple[FloatArray, FloatArray, None]:
    # Minimizers: {v >= 0: v1+v2+v3+v4 = 1, v2 + 2 v3 + 3 v4 = 1}, x5 = 0: a 2-dim face on which
    # each depth selects a different point.
    return _fixed([[1, 1, 1, 1, 0.5], [0, 1, 2, 3, 0]], [1, 1])


def _signs() -> tuple[FloatArray, FloatArray, None]:
    # face2d with columns 2 and 4 negated: the same face with mixed signs.
    return _fixed([[1, -1, 1, -1, 0.5], [0, -1, 2, -3, 0]], [1, 1])


FIXED_SAMPLES: dict[str, tuple[Callable[[], tuple[FloatArray, FloatArray, None]], str]] = {
    "line": (_line, "A=[[1,1,1],[3,0,1]], y=(3,3): BP minimizers form a segment (the paper's)"),
    "plane": (_plane, "A=[[2,-1,0,1],[0,3,2,0]], y=(0,6): a segment plus an excluded column"),
    "random3x5": (_random3x5, "a 3x5 instance with a unique BP minimizer, dual margin 0.745"),
    "simplex": (_simplex, "A=[[1,1,1,0.5]], y=1: minimizers form a triangle (2-dim face)"),
    "face2d": (_face2d, "A=[[1,1,1,1,.5],[0,1,2,3,0]], y=(1,1): 2-dim face, depth-dependent"),
    "signs": (_signs, "face2d with columns 2 and 4 negated: a 2-dim face with mixed signs"),
}

PARAMETRIC_SAMPLES: dict[str, str] = {
    "kink:EPS": "A=[1, 1-EPS], y=1: unique for EPS>0; the non-uniform-rate family",
    "gauss:M:N:K:SEED": "Gaussian A/sqrt(M), K-sparse ground truth, y = A x_true",
    "face:M:N:K:D:SEED": "Gaussian-like, K columns on one certificate facet spanning a "
    "D-dim subspace: BP face of dimension K - D",
}


def sample_descriptions() -> dict[str, str]:
    """Every built-in sample name (or pattern) with a one-line description."""
    out = {name: text for name, (_, text) in FIXED_SAMPLES.items()}
    out.update(PARAMETRIC_SAMPLES)
    return out


_KINK = re.compile(r"kink:(.+)")
_GAUSS = re.compile(r"gauss:(.+)")
_FACE = re.compile(r"face:(.+)")


def _is_sample_spec(spec: str) -> bool:
    return spec in FIXED_SAMPLES or any(p.fullmatch(spec) for p in (_KINK, _GAUSS, _FACE))


def _facet_problem(spec: str, m: int, n: int, k: int, d: int, seed: int) -> Problem:
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
    return Problem(spec, A, A @ v, None)


def load_sample(spec: str) -> Problem:
    """Build a built-in sample problem from its spec (``line``, ``kink:0.1``, ...)."""
    if spec in FIXED_SAMPLES:
        A, y, x_true = FIXED_SAMPLES[spec][0]()
        return Problem(spec, A, y, x_true)
    kink = _KINK.fullmatch(spec)
    if kink:
        eps = _parse_float(kink.group(1), spec, "EPS")
        if not 0 <= eps < 1:
            raise ProblemFormatError(f"{spec}: EPS is {eps:g}; expected 0 <= EPS < 1")
        return Problem(spec, np.array([[1.0, 1.0 - eps]]), np.array([1.0]))
    if _GAUSS.fullmatch(spec):
        m, n, k, seed = _int_fields(spec, "gauss", ("M", "N", "K", "SEED"))
        if m < 1 or n < 1 or not 0 <= k <= n or seed < 0 or m * n > 50_000_000:
            raise ProblemFormatError(
                f"{spec}: M={m}, N={n}, K={k}, SEED={seed}; "
                "expected M, N >= 1, 0 <= K <= N, SEED >= 0, M*N <= 5e7"
            )
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((m, n)) / math.sqrt(m)
        x_true = np.zeros(n)
        x_true[rng.choice(n, size=k, replace=False)] = rng.standard_normal(k)
        return Problem(spec, A, A @ x_true, x_true)
    if _FACE.fullmatch(spec):
        m, n, k, d, seed = _int_fields(spec, "face", ("M", "N", "K", "D", "SEED"))
        if not (1 <= d <= min(k, m) and k <= n and seed >= 0 and m * n <= 50_000_000):
            raise ProblemFormatError(
                f"{spec}: M={m}, N={n}, K={k}, D={d}, SEED={seed}; "
                "expected 1 <= D <= min(K, M), K <= N, SEED >= 0, M*N <= 5e7"
            )
        return _facet_problem(spec, m, n, k, d, seed)
    raise ProblemFormatError(f"{spec}: not a file and not a sample; see 'dlncli samples'")


def _int_fields(spec: str, prefix: str, names: tuple[str, ...]) -> list[int]:
    """The integer fields of a parametric sample spec ``prefix:F1:F2:...``."""
    parts = spec[len(prefix) + 1 :].split(":")
    if len(parts) != len(names):
        raise ProblemFormatError(
            f"{spec}: has {len(parts)} fields after '{prefix}:'; "
            f"expected {prefix}:{':'.join(names)}"
        )
    return [_parse_int(part, spec, name) for part, name in zip(parts, names, strict=True)]


def _parse_float(text: str, spec: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ProblemFormatError(f"{spec}: {field} is {text!r}; expected a number") from None
    if not math.isfinite(value):
        raise ProblemFormatError(f"{spec}: {field} is {text!r}; expected a finite number")
    return value


def _parse_int(text: str, spec: str, field: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProblemFormatError(f"{spec}: {field} is {text!r}; expected an integer") from None


# --------------------------------------------------------------------------- files

_NPZ_MAGIC = b"PK"
MAX_ELEMENTS = 200_000_000  # refuse declared shapes that would need > 1.6 GB of float64


def load_problem(source: str | None) -> Problem:
    """Load a problem from a path, ``-`` (stdin), a sample spec, or the default sample.

    Raises
    ------
    ProblemFormatError
        With a one-line message naming the source, what is wrong, the value and what was
        expected.
    """
    if source is None:
        return load_sample(DEFAULT_PROBLEM)
    if source == "-":
        data = sys.stdin.buffer.read()
        if not data.strip():
            raise ProblemFormatError("<stdin>: is empty; expected CSV text or .npz bytes")
        if data.startswith(_NPZ_MAGIC):
            return _from_npz(io.BytesIO(data), "<stdin>", None)
        return _from_csv_text(_decode(data, "<stdin>"), "<stdin>", None)
    path = Path(source)
    if not path.exists():
        if _is_sample_spec(source):
            return load_sample(source)
        raise ProblemFormatError(f"{source}: no such file or built-in sample; see 'dlncli samples'")
    if path.is_dir():
        raise ProblemFormatError(f"{source}: is a directory; expected a .npz, .csv or .mat file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProblemFormatError(f"{source}: cannot be read ({exc.strerror})") from None
    if not raw:
        raise ProblemFormatError(f"{source}: is empty; expected a problem file")
    suffix = path.suffix.lower()
    resolved = path.resolve()
    if suffix == ".npz":
        return _from_npz(io.BytesIO(raw), source, resolved)
    if suffix in (".csv", ".txt"):
        return _from_csv_text(_decode(raw, source), source, resolved)
    if suffix == ".mat":
        return _from_mat(io.BytesIO(raw), source, resolved)
    raise ProblemFormatError(
        f"{source}: extension {suffix or '(none)'!r} is not supported; expected .npz, .csv or .mat"
    )


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProblemFormatError(f"{name}: is not UTF-8 text; expected CSV") from None


def _from_npz(stream: io.BytesIO, name: str, path: Path | None) -> Problem:
    if not stream.getvalue().startswith(_NPZ_MAGIC):
        raise ProblemFormatError(f"{name}: is not an npz (zip) archive; expected np.savez output")
    _check_npz_headers(stream, name)
    try:
        with np.load(stream, allow_pickle=False) as archive:
            keys = set(archive.files)
            arrays: dict[str, Any] = {}
            for key in ("A", "y", "b", "x_true"):
                if key in keys:
                    arrays[key] = archive[key]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ProblemFormatError(
                f"{name}: holds pickled object arrays, which are never loaded; "
                "expected numeric arrays"
            ) from None
        raise ProblemFormatError(f"{name}: is not a valid npz archive ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise ProblemFormatError(f"{name}: is not a valid npz archive ({exc})") from None
    return _from_arrays(arrays, keys, name, path)


def _check_npz_headers(stream: io.BytesIO, name: str) -> None:
    """Refuse huge declared shapes before numpy allocates them (a 100-byte file can ask for
    80 GB)."""
    try:
        with zipfile.ZipFile(stream) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    if version == (1, 0):
                        shape, _, _ = np.lib.format.read_array_header_1_0(handle)
                    else:
                        shape, _, _ = np.lib.format.read_array_header_2_0(handle)
                size = math.prod(shape)
                if size > MAX_ELEMENTS:
                    raise ProblemFormatError(
                        f"{name}: {member[:-4]} declares shape {shape} ({size} entries); "
                        f"expected at most {MAX_ELEMENTS} entries"
                    )
    except ProblemFormatError:
        raise
    except Exception as exc:  # zipfile and numpy's header parser raise many types
        raise ProblemFormatError(f"{name}: is not a valid npz archive ({exc})") from None
    finally:
        stream.seek(0)


def _from_mat(stream: io.BytesIO, name: str, path: Path | None) -> Problem:
    import scipy.io

    try:
        content = scipy.io.loadmat(cast(Any, stream))  # file objects work; the stubs say paths
    except NotImplementedError:
        raise ProblemFormatError(
            f"{name}: is a MATLAB v7.3 (HDF5) file; expected a v5 .mat (save -v7)"
        ) from None
    except Exception as exc:  # scipy.io raises many types for malformed files
        raise ProblemFormatError(f"{name}: is not a readable .mat file ({exc})") from None
    keys = {k for k in content if not k.startswith("__")}
    arrays: dict[str, Any] = {k: content[k] for k in ("A", "y", "b", "x_true") if k in keys}
    return _from_arrays(arrays, keys, name, path)


def _from_arrays(
    arrays: Mapping[str, Any], keys: set[str], name: str, path: Path | None
) -> Problem:
    if "A" not in arrays:
        raise ProblemFormatError(
            f"{name}: has no array 'A' (found {sorted(keys) or 'none'}); expected 'A' and 'y'"
        )
    if "y" not in arrays and "b" not in arrays:
        raise ProblemFormatError(
            f"{name}: has no array 'y' or 'b' (found {sorted(keys)}); expected 'A' and 'y'"
        )
    A = _numeric(arrays["A"], name, "A")
    y_key = "y" if "y" in arrays else "b"
    y = _numeric(arrays[y_key], name, y_key)
    if A.ndim != 2:
        raise ProblemFormatError(
            f"{name}: A has {A.ndim} dimension(s), shape {A.shape}; expected a 2-D (m, N) matrix"
        )
    m, n = A.shape
    if m == 0 or n == 0:
        raise ProblemFormatError(f"{name}: A has shape {A.shape}; expected m >= 1 and N >= 1")
    y = _as_vector(y, m, name, y_key, "A", A.shape)
    x_true = None
    if "x_true" in arrays:
        x_true = _as_vector(
            _numeric(arrays["x_true"], name, "x_true"),
            n,
            name,
            "x_true",
            "A",
            A.shape,
            along="columns",
        )
    return _checked(Problem(name, A, y, x_true, path))


def _as_vector(
    v: FloatArray,
    length: int,
    name: str,
    key: str,
    other: str,
    other_shape: tuple[int, ...],
    along: str = "rows",
) -> FloatArray:
    # MATLAB stores vectors as (m, 1) or (1, m): accept any shape with one non-unit axis.
    if v.ndim == 2 and 1 in v.shape:
        v = v.reshape(-1)
    if v.ndim != 1 or v.shape[0] != length:
        raise ProblemFormatError(
            f"{name}: {other} has shape {other_shape} but {key} has shape {v.shape}; "
            f"expected {key} of shape ({length},) (one entry per {along[:-1]} of {other})"
        )
    return v


def _numeric(value: Any, name: str, key: str) -> FloatArray:
    arr = np.asarray(value)
    if arr.dtype == object:
        raise ProblemFormatError(f"{name}: {key} is an object array; expected numbers")
    if np.iscomplexobj(arr):
        raise ProblemFormatError(f"{name}: {key} has complex dtype {arr.dtype}; expected real")
    if arr.dtype.kind not in "biuf":
        raise ProblemFormatError(
            f"{name}: {key} has dtype {arr.dtype}; expected real numbers (float or int)"
        )
    if arr.size > MAX_ELEMENTS:
        raise ProblemFormatError(
            f"{name}: {key} has {arr.size} entries; expected at most {MAX_ELEMENTS}"
        )
    return np.array(arr, dtype=np.float64)


def _checked(problem: Problem) -> Problem:
    for key, arr in (("A", problem.A), ("y", problem.y), ("x_true", problem.x_true)):
        if arr is None:
            continue
        bad = np.argwhere(~np.isfinite(arr))
        if bad.size:
            where = tuple(int(i) for i in bad[0])
            raise ProblemFormatError(
                f"{problem.name}: {key}{list(where)} is {arr[where]}; expected finite numbers "
                f"({len(bad)} non-finite entries)"
            )
    return problem


_COMPLEX = re.compile(r"^[+-]?[\d.eE+-]*[+-][\d.eE+-]*[ij]$|^[+-]?[\d.eE+-]+[ij]$")


def _from_csv_text(text: str, name: str, path: Path | None) -> Problem:
    rows: list[list[float]] = []
    first_data_line = True
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        cells = [c.strip() for c in line.split(",")]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            bad = next(c for c in cells if not _is_float(c))
            if first_data_line and not any(_is_float(c) for c in cells):
                first_data_line = False  # a header row: every cell is a label
                continue
            what = "a complex number" if _COMPLEX.match(bad.replace(" ", "")) else "not a number"
            raise ProblemFormatError(
                f"{name}: line {lineno}: cell {bad!r} is {what}; expected real numbers"
            ) from None
        first_data_line = False
        if rows and len(values) != len(rows[0]):
            raise ProblemFormatError(
                f"{name}: line {lineno}: has {len(values)} cells but earlier rows have "
                f"{len(rows[0])}; expected a rectangular a_1,...,a_N,y table"
            )
        rows.append(values)
    if not rows:
        raise ProblemFormatError(f"{name}: has no data rows; expected rows a_1,...,a_N,y")
    if len(rows[0]) < 2:
        raise ProblemFormatError(
            f"{name}: rows have {len(rows[0])} cell; expected at least 2 (a_1,...,a_N,y)"
        )
    table = np.array(rows, dtype=np.float64)
    return _checked(Problem(name, table[:, :-1].copy(), table[:, -1].copy(), None, path))


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- writers


def check_output_path(
    out: Path,
    *,
    inputs: tuple[Path | None, ...],
    force: bool,
    suffixes: tuple[str, ...] = (".npz", ".csv", ".json"),
) -> str | None:
    """Return why ``out`` may not be written, or None when it may.

    Input files are never overwritten; other existing files only with ``force``.
    """
    if out.suffix.lower() not in suffixes:
        return (
            f"extension {out.suffix or '(none)'!r} is not supported; "
            f"expected {', '.join(suffixes[:-1])} or {suffixes[-1]}"
        )
    resolved = out.resolve()
    if not resolved.parent.is_dir():
        return f"directory {str(resolved.parent)!r} does not exist"
    if not os.access(resolved.parent, os.W_OK):
        return f"directory {str(resolved.parent)!r} is not writable"
    if any(p is not None and p == resolved for p in inputs):
        return "is the input problem file; refusing to overwrite it"
    if out.exists() and not force:
        return "exists; pass --force to overwrite it"
    if out.exists() and out.is_dir():
        return "is a directory"
    return None


def write_record(out: Path, record: Mapping[str, Any]) -> None:
    """Write a result record to .json, .npz or .csv (by extension), atomically.

    Vectors go to .npz as arrays; .csv gets one row per coordinate for every vector of
    length N plus ``# key = value`` comment lines for scalars.
    """
    suffix = out.suffix.lower()
    if suffix == ".json":
        payload = (json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()
    elif suffix == ".npz":
        buffer = io.BytesIO()
        arrays = {k: np.asarray(v) for k, v in record.items() if _is_numeric(v)}
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        payload = buffer.getvalue()
    else:
        payload = _record_csv(record).encode()
    _atomic_write(out, payload)


def write_arrays(out: Path, columns: Mapping[str, FloatArray]) -> None:
    """Write named arrays to .npz, or to .csv as columns (2-D arrays expand to key_0, ...)."""
    if out.suffix.lower() == ".npz":
        buffer = io.BytesIO()
        np.savez(buffer, **columns)  # type: ignore[arg-type]
        _atomic_write(out, buffer.getvalue())
        return
    header: list[str] = []
    blocks: list[FloatArray] = []
    for key, arr in columns.items():
        a = np.asarray(arr, dtype=np.float64)
        if a.ndim == 1:
            header.append(key)
            blocks.append(a[:, None])
        else:
            header.extend(f"{key}_{j}" for j in range(a.shape[1]))
            blocks.append(a)
    table = np.hstack(blocks)
    lines = [",".join(header)] + [",".join(repr(float(v)) for v in row) for row in table]
    _atomic_write(out, ("\n".join(lines) + "\n").encode())


def write_figure(out: Path, figure: Any) -> None:
    """Save a matplotlib figure; the format follows the extension (.png, .pdf, .svg)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=out.suffix.lower().lstrip("."), dpi=150)
    _atomic_write(out, buffer.getvalue())


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return True
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    )


def _record_csv(record: Mapping[str, Any]) -> str:
    vectors = {k: v for k, v in record.items() if isinstance(v, list) and _is_numeric(v)}
    length = max((len(v) for v in vectors.values()), default=0)
    columns = {k: v for k, v in vectors.items() if len(v) == length}
    lines = [
        f"# {k} = {json.dumps(v, allow_nan=False)}"
        for k, v in sorted(record.items())
        if k not in columns
    ]
    lines.append(",".join(["index", *columns]))
    for i in range(length):
        lines.append(",".join([str(i)] + [repr(float(columns[k][i])) for k in columns]))
    return "\n".join(lines) + "\n"


def _atomic_write(out: Path, payload: bytes) -> None:
    # Write beside the target and rename, so an interrupted run leaves no half-written file.
    directory = out.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
