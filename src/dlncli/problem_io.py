"""Problem input and result output: the only module that touches files.

A problem is a pair (A, y) with A of shape (m, N) and y of shape (m,). It comes from a
.npz, .csv or .mat file, from stdin (``-``: CSV text or npz bytes), or from a built-in
sample name (see :data:`SAMPLES`).

Hostile input is refused before memory is allocated for it: every source is held to one cap
on its size, ``max_bytes`` (default :data:`DEFAULT_MAX_INPUT_BYTES`), counted as the larger of
the bytes read and the float64 size of the arrays it declares (npz and .mat headers, sample
dimensions, CSV cells). Numbers in text (CSV cells, sample fields) are plain ASCII decimals:
``1_000``, full-width or other non-ASCII digits are refused.
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

from dlncli.arrays import FloatArray
from dlncli.errors import OutputError, OutputExistsError, ProblemFormatError
from dlncli.problem import (
    DEFAULT_MAX_INPUT_BYTES,
    DEFAULT_PROBLEM,
    Problem,
    check_size,
    parse_decimal,
)
from dlncli.samples import build_sample, find_sample

# --------------------------------------------------------------------------- samples


def is_sample_spec(spec: str) -> bool:
    """Whether ``spec`` names a built-in sample (a fixed name or a well-formed pattern).

    Such a name always means the sample, even when a file of that name exists in the current
    directory; write it as a path (``./line``) to read the file.
    """
    return find_sample(spec, strict=True) is not None


def shadowed_file(spec: str | None) -> Path | None:
    """The local file that the sample name ``spec`` hides, if any (for a note to the user)."""
    if spec is None or not is_sample_spec(spec):
        return None
    path = Path(spec)
    return path if path.exists() else None


def _is_sample_spec(spec: str) -> bool:
    return find_sample(spec, strict=False) is not None


def load_sample(spec: str, *, max_bytes: int | None = None) -> Problem:
    """Build a built-in sample problem from its spec (``line``, ``kink:0.1``, ...).

    ``max_bytes`` bounds the float64 size M·N·8 of a parametric sample's A, checked before
    anything is allocated. :func:`load_problem` (and so the CLI) passes the input cap; a direct
    call builds what it is asked for unless given ``max_bytes`` (benchmarks build large ones).
    A fixed sample (``line``, ``random3x5``) has no declared shape: its A is checked against
    the cap once built (a few numbers), by the same rule (A's float64 size).
    """
    problem = build_sample(spec, max_bytes=max_bytes)
    shape = problem.A.shape
    check_size(spec, f"A of shape {shape} as float64", 8 * int(problem.A.size), max_bytes)
    return problem


_NPZ_MAGIC = b"PK"
_PROBLEM_KEYS = ("A", "y", "b", "x_true", "sigma")
_CHUNK = 2**20


def load_problem(source: str | None, *, max_bytes: int | None = None) -> Problem:
    """Load a problem from a path, ``-`` (stdin), a sample spec, or the default sample.

    A valid sample name (``line``, ``kink:0.1``, ...) always means the sample, even when a file
    of that name exists (see :func:`shadowed_file`); a name with a path separator is a file.

    Parameters
    ----------
    source : path, ``-``, sample spec, or None for the default sample.
    max_bytes : the input cap in bytes (default :data:`DEFAULT_MAX_INPUT_BYTES`): the bytes
        read and the float64 size of the declared arrays must both stay within it. It is
        checked before the arrays are allocated.

    Raises
    ------
    ProblemFormatError
        With a one-line message naming the source, what is wrong, the value and what was
        expected.
    """
    cap = DEFAULT_MAX_INPUT_BYTES if max_bytes is None else max_bytes
    if source is None:
        return load_sample(DEFAULT_PROBLEM, max_bytes=cap)
    if not source.strip():
        raise ProblemFormatError(
            f"{source!r}: is an empty problem name; expected a file path, '-' for stdin "
            "or a sample name (see 'dlncli samples')"
        )
    if source == "-":
        stdin = sys.stdin
        if stdin is None:  # started with stdin closed (<&-)
            raise ProblemFormatError("<stdin>: is closed; expected CSV text or .npz bytes on stdin")
        try:
            data = _read_bounded(stdin.buffer, "<stdin>", cap)
        except (OSError, ValueError) as exc:
            raise ProblemFormatError(f"<stdin>: cannot be read ({exc})") from None
        if not data.strip():
            raise ProblemFormatError("<stdin>: is empty; expected CSV text or .npz bytes")
        if data.startswith(_NPZ_MAGIC):
            return _from_npz(io.BytesIO(data), "<stdin>", None, cap)
        return _from_csv_text(_decode(data, "<stdin>"), "<stdin>", None, cap)
    if is_sample_spec(source):
        return load_sample(source, max_bytes=cap)
    path = Path(source)
    if not path.exists():
        if _is_sample_spec(source):
            return load_sample(source, max_bytes=cap)  # a malformed spec: its own message
        raise ProblemFormatError(f"{source}: no such file or built-in sample; see 'dlncli samples'")
    if path.is_dir():
        raise ProblemFormatError(f"{source}: is a directory; expected a .npz, .csv or .mat file")
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv", ".txt", ".mat"):
        raise ProblemFormatError(
            f"{source}: extension {suffix or '(none)'!r} is not supported; "
            "expected .npz, .csv or .mat"
        )
    try:
        size = path.stat().st_size
        if path.is_file():  # devices and pipes report no useful size: read_bounded stops them
            check_size(source, "the file", size, cap)
        with path.open("rb") as handle:
            raw = _read_bounded(handle, source, cap)
    except OSError as exc:
        raise ProblemFormatError(f"{source}: cannot be read ({exc.strerror})") from None
    if not raw:
        raise ProblemFormatError(f"{source}: is empty; expected a problem file")
    resolved = path.resolve()
    if suffix == ".npz":
        return _from_npz(io.BytesIO(raw), source, resolved, cap)
    if suffix in (".csv", ".txt"):
        return _from_csv_text(_decode(raw, source), source, resolved, cap)
    return _from_mat(io.BytesIO(raw), source, resolved, cap)


def _read_bounded(handle: Any, name: str, max_bytes: int) -> bytes:
    """Read to EOF, refusing as soon as more than ``max_bytes`` arrive (/dev/zero, ``yes``)."""
    buffer = bytearray()
    while True:
        chunk = handle.read(min(_CHUNK, max_bytes + 1 - len(buffer)))
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if len(buffer) > max_bytes:
            check_size(name, "the input read so far", len(buffer), max_bytes)


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProblemFormatError(f"{name}: is not UTF-8 text; expected CSV") from None


def _from_npz(stream: io.BytesIO, name: str, path: Path | None, max_bytes: int) -> Problem:
    if not stream.getvalue().startswith(_NPZ_MAGIC):
        raise ProblemFormatError(f"{name}: is not an npz (zip) archive; expected np.savez output")
    _check_npz_headers(stream, name, max_bytes)
    try:
        with np.load(stream, allow_pickle=False) as archive:
            keys = set(archive.files)
            arrays: dict[str, Any] = {}
            for key in _PROBLEM_KEYS:
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
    return _from_arrays(arrays, keys, name, path, max_bytes)


def _check_npz_headers(stream: io.BytesIO, name: str, max_bytes: int) -> None:
    """Refuse what np.load would inflate beyond the cap, before it allocates anything.

    Checks every member that np.load would return as A, y, b or x_true (``A.npy`` and also a
    bare ``A``): its uncompressed size as the zip declares it (a deflate bomb) and the shape
    and dtype its .npy header declares (a 100-byte file can ask for 80 GB).
    """
    total = 0
    try:
        with zipfile.ZipFile(stream) as archive:
            for info in archive.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if key not in _PROBLEM_KEYS:
                    continue
                check_size(
                    name, f"member {info.filename!r} uncompressed", info.file_size, max_bytes
                )
                with archive.open(info) as handle:
                    if handle.read(6) != b"\x93NUMPY":
                        continue  # np.load returns its raw bytes (size checked above)
                    handle.seek(0)
                    version = np.lib.format.read_magic(handle)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
                nbytes = math.prod(shape) * max(dtype.itemsize, 8)
                check_size(name, f"{key} of declared shape {shape} as float64", nbytes, max_bytes)
                total += nbytes
                check_size(name, "A, y and x_true together as float64", total, max_bytes)
    except ProblemFormatError:
        raise
    except Exception as exc:  # zipfile and numpy's header parser raise many types
        raise ProblemFormatError(f"{name}: is not a valid npz archive ({exc})") from None
    finally:
        stream.seek(0)


def _from_mat(stream: io.BytesIO, name: str, path: Path | None, max_bytes: int) -> Problem:
    import scipy.io

    wanted = list(_PROBLEM_KEYS)
    try:
        # whosmat reads only the variable headers (compressed ones are inflated lazily), so
        # the declared shapes are checked before any data is inflated or allocated.
        declared = scipy.io.whosmat(cast(Any, stream))  # file objects work; stubs say paths
        total = 0
        for key, shape, _ in declared:
            if key in wanted:
                nbytes = 8 * math.prod(shape)
                check_size(name, f"{key} of declared shape {shape} as float64", nbytes, max_bytes)
                total += nbytes
                check_size(name, "A, y and x_true together as float64", total, max_bytes)
        stream.seek(0)
        content = scipy.io.loadmat(cast(Any, stream), variable_names=wanted)
    except ProblemFormatError:
        raise
    except NotImplementedError:
        raise ProblemFormatError(
            f"{name}: is a MATLAB v7.3 (HDF5) file; expected a v5 .mat (save -v7)"
        ) from None
    except Exception as exc:  # scipy.io raises many types for malformed files
        raise ProblemFormatError(f"{name}: is not a readable .mat file ({exc})") from None
    keys = {str(k) for k, _, _ in declared}
    arrays: dict[str, Any] = {k: content[k] for k in _PROBLEM_KEYS if k in content}
    return _from_arrays(arrays, keys, name, path, max_bytes)


def _from_arrays(
    arrays: Mapping[str, Any],
    keys: set[str],
    name: str,
    path: Path | None,
    max_bytes: int | None = None,
) -> Problem:
    if "A" not in arrays:
        raise ProblemFormatError(
            f"{name}: has no array 'A' (found {sorted(keys) or 'none'}); expected 'A' and 'y'"
        )
    if "y" not in arrays and "b" not in arrays:
        raise ProblemFormatError(
            f"{name}: has no array 'y' or 'b' (found {sorted(keys)}); expected 'A' and 'y'"
        )
    A = _numeric(arrays["A"], name, "A", max_bytes)
    y_key = "y" if "y" in arrays else "b"
    y = _numeric(arrays[y_key], name, y_key, max_bytes)
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
            _numeric(arrays["x_true"], name, "x_true", max_bytes),
            n,
            name,
            "x_true",
            "A",
            A.shape,
            along="columns",
        )
    sigma = None
    if "sigma" in arrays:
        level = _numeric(arrays["sigma"], name, "sigma", max_bytes)
        if level.size != 1 or not (math.isfinite(float(level.reshape(-1)[0])) and level >= 0):
            raise ProblemFormatError(
                f"{name}: sigma is {level.reshape(-1)[:3].tolist()}; expected one finite "
                "number >= 0 (the noise level of y = A x_true + sigma z)"
            )
        sigma = float(level.reshape(-1)[0])
    return _checked(Problem(name, A, y, x_true, path, sigma))


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


def _numeric(value: Any, name: str, key: str, max_bytes: int | None = None) -> FloatArray:
    cap = DEFAULT_MAX_INPUT_BYTES if max_bytes is None else max_bytes
    if hasattr(value, "toarray") and hasattr(value, "shape"):  # scipy.sparse, e.g. from .mat
        check_size(
            name,
            f"{key} of shape {value.shape} as a dense float64 array",
            8 * math.prod(value.shape),
            cap,
        )
        value = value.toarray()
    arr = np.asarray(value)
    if arr.dtype == object:
        raise ProblemFormatError(f"{name}: {key} is an object array; expected numbers")
    if np.iscomplexobj(arr):
        raise ProblemFormatError(f"{name}: {key} has complex dtype {arr.dtype}; expected real")
    if arr.dtype.kind not in "biuf":
        raise ProblemFormatError(
            f"{name}: {key} has dtype {arr.dtype}; expected real numbers (float or int)"
        )
    check_size(name, f"{key} of shape {arr.shape} as float64", 8 * arr.size, cap)
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


def _from_csv_text(
    text: str, name: str, path: Path | None, max_bytes: int | None = None
) -> Problem:
    cap = DEFAULT_MAX_INPUT_BYTES if max_bytes is None else max_bytes
    rows: list[FloatArray] = []
    cells_total = 0
    first_data_line = True
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        cells = [c.strip() for c in line.split(",")]
        try:
            values = [parse_decimal(c) for c in cells]
        except ValueError:
            bad = next(c for c in cells if not _is_float(c))
            if first_data_line and not any(_is_float(c) for c in cells):
                first_data_line = False  # a header row: every cell is a label
                continue
            if _COMPLEX.match(bad.replace(" ", "")):
                what = "a complex number"
            elif _is_loose_float(bad):
                what = "not a plain decimal number (no '_' separators or non-ASCII digits)"
            else:
                what = "not a number"
            raise ProblemFormatError(
                f"{name}: line {lineno}: cell {bad!r} is {what}; expected real numbers"
            ) from None
        first_data_line = False
        if rows and len(values) != rows[0].size:
            raise ProblemFormatError(
                f"{name}: line {lineno}: has {len(values)} cells but earlier rows have "
                f"{rows[0].size}; expected a rectangular a_1,...,a_N,y table"
            )
        cells_total += len(values)
        check_size(name, f"the table up to line {lineno} as float64", 8 * cells_total, cap)
        rows.append(np.array(values, dtype=np.float64))
    if not rows:
        raise ProblemFormatError(f"{name}: has no data rows; expected rows a_1,...,a_N,y")
    if rows[0].size < 2:
        raise ProblemFormatError(
            f"{name}: rows have {rows[0].size} cell; expected at least 2 (a_1,...,a_N,y)"
        )
    table = np.vstack(rows)
    return _checked(Problem(name, table[:, :-1].copy(), table[:, -1].copy(), None, path))


def _is_float(text: str) -> bool:
    try:
        parse_decimal(text)
    except ValueError:
        return False
    return True


def _is_loose_float(text: str) -> bool:
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
    if any(p is not None and same_file(p, out) for p in inputs):
        return "is the input problem file; refusing to overwrite it"
    if out.exists() and not force:
        return "exists; pass --force to overwrite it"
    if out.exists() and out.is_dir():
        return "is a directory"
    return None


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same resolved path (symlinks followed, ``./``
    and ``..`` removed) or, when both exist, the same inode (hard links)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_record(out: Path, record: Mapping[str, Any], *, force: bool = False) -> None:
    """Write a result record to .json, .npz or .csv (by extension), atomically.

    The file is put in place with no-clobber semantics unless ``force``: see
    :func:`_atomic_write`.

    Vectors go to .npz as arrays; .csv gets one row per coordinate for every vector of
    length N plus ``# key = value`` comment lines for scalars.
    """
    suffix = out.suffix.lower()
    if suffix == ".json":
        payload = (json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()
    elif suffix == ".npz":
        buffer = io.BytesIO()
        np.savez(buffer, **_record_arrays(record))
        payload = buffer.getvalue()
    else:
        payload = _record_csv(record).encode()
    _atomic_write(out, payload, force=force)


def write_arrays(out: Path, columns: Mapping[str, FloatArray], *, force: bool = False) -> None:
    """Write named arrays to .npz, or to .csv as columns (2-D arrays expand to key_0, ...)."""
    if out.suffix.lower() == ".npz":
        buffer = io.BytesIO()
        np.savez(buffer, **columns)  # type: ignore[arg-type]
        _atomic_write(out, buffer.getvalue(), force=force)
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
    _atomic_write(out, ("\n".join(lines) + "\n").encode(), force=force)


def write_figure(out: Path, figure: Any, *, force: bool = False) -> None:
    """Save a matplotlib figure; the format follows the extension (.png, .pdf, .svg)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=out.suffix.lower().lstrip("."), dpi=150)
    _atomic_write(out, buffer.getvalue(), force=force)


def _record_arrays(record: Mapping[str, Any]) -> dict[str, Any]:
    """An npz's arrays for a JSON record: every numeric leaf as an array under its dotted path
    (``curves.0.h``), and the whole document as JSON text under ``document``, so the archive
    holds everything ``--json`` prints."""
    arrays: dict[str, Any] = {
        "document": np.array(json.dumps(record, sort_keys=True, allow_nan=False))
    }

    def walk(prefix: str, value: Any) -> None:
        if _is_numeric(value):
            arrays[prefix] = np.asarray(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{prefix}.{index}", item)

    walk("", record)
    return arrays


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


def _atomic_write(out: Path, payload: bytes, *, force: bool) -> None:
    """Write ``payload`` to a temporary file beside ``out`` and put it in place.

    An interrupted run (Ctrl-C, SIGTERM) leaves no half-written file: the temporary file is
    removed on every exit path. Without ``force`` the "exists" decision is made atomically
    when the file is put in place (a hard link, else ``renameat2(RENAME_NOREPLACE)``), so a
    file that appeared during the run is not clobbered. The file gets the mode a plain
    ``open`` would give (0666 minus the umask), not mkstemp's 0600.

    Raises
    ------
    OutputExistsError
        ``out`` exists and ``force`` is False.
    OutputError
        The file cannot be written (disk full, permissions, ...).
    """
    directory = Path(os.path.abspath(out)).parent
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(tmp, out)
            tmp = None
        else:
            _place_no_clobber(tmp, out)
    except FileExistsError:
        raise OutputExistsError(f"{out}: exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise OutputError(f"{out}: cannot be written ({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _place_no_clobber(tmp: str, out: Path) -> None:
    """Give ``tmp`` the name ``out`` unless ``out`` exists (FileExistsError), atomically."""
    try:
        os.link(tmp, out)  # fails with EEXIST if out exists, whatever it is
        return
    except FileExistsError:
        raise
    except OSError:
        pass  # a file system without hard links
    if not _rename_noreplace(tmp, out):
        with open(out, "xb") as handle:  # O_EXCL: still atomic about existence
            handle.write(Path(tmp).read_bytes())


def _rename_noreplace(src: str, dst: Path) -> bool:
    """renameat2(RENAME_NOREPLACE) through libc; False when the system does not offer it."""
    import ctypes
    import ctypes.util
    import errno

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_noreplace = -100, 1
    result = renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), rename_noreplace)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EEXIST:
        raise FileExistsError(err, os.strerror(err), str(dst))
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _umask() -> int:
    # The only portable way to read the umask is to set it; put it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- flow --init


def load_start(
    path: Path, n: int, *, max_bytes: int | None = None
) -> tuple[FloatArray, FloatArray]:
    """ln u0, ln v0 (each (n,)) from an .npz holding u0 and v0 (> 0) or log_u0 and log_v0.

    The start of a flow from a per-coordinate, possibly unbalanced initialisation
    (docs/train.md). Raises ProblemFormatError naming the file, the array and what was expected.
    """
    cap = DEFAULT_MAX_INPUT_BYTES if max_bytes is None else max_bytes
    name = str(path)
    try:
        with path.open("rb") as handle:
            raw = _read_bounded(handle, name, cap)
    except OSError as exc:
        raise ProblemFormatError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    stream = io.BytesIO(raw)
    if not raw.startswith(_NPZ_MAGIC):
        raise ProblemFormatError(f"{name}: is not an npz (zip) archive; expected np.savez output")
    _check_npz_headers(stream, name, cap)
    try:
        with np.load(stream, allow_pickle=False) as archive:
            keys = set(archive.files)
            if {"log_u0", "log_v0"} <= keys:
                pair, logs = ("log_u0", "log_v0"), True
            elif {"u0", "v0"} <= keys:
                pair, logs = ("u0", "v0"), False
            else:
                raise ProblemFormatError(
                    f"{name}: holds {sorted(keys)}; expected arrays u0 and v0 (or log_u0 and "
                    "log_v0)"
                )
            arrays = [np.asarray(archive[key]) for key in pair]
    except ValueError as exc:
        raise ProblemFormatError(f"{name}: is not a valid npz archive of numbers ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise ProblemFormatError(f"{name}: is not a valid npz archive ({exc})") from None
    out = []
    for key, arr in zip(pair, arrays, strict=True):
        if arr.dtype.kind not in "biuf" or arr.shape != (n,):
            raise ProblemFormatError(
                f"{name}: {key} has shape {arr.shape} and dtype {arr.dtype}; expected {n} real "
                "numbers (one per column of A)"
            )
        values = arr.astype(np.float64)
        if not np.all(np.isfinite(values)) or (not logs and not np.all(values > 0)):
            bad = int(np.flatnonzero(~(np.isfinite(values) & (logs | (values > 0))))[0])
            want = "finite" if logs else "finite and > 0"
            raise ProblemFormatError(
                f"{name}: {key}[{bad}] = {float(values[bad])!r}; expected every entry {want}"
            )
        out.append(values if logs else np.log(values))
    return out[0], out[1]
