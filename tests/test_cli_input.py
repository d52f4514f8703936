"""Every documented input error: one stderr line naming the source, exit 1, no traceback."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from tests.helpers import run, run_json

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_problems"


def _assert_error(result: object, *fragments: str, code: int = 1) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    err: str = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in err
    assert result.stdout == ""  # type: ignore[attr-defined]
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in err, err


def _npz(path: Path, **arrays: object) -> Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def test_missing_file(tmp_path: Path) -> None:
    _assert_error(run("solve-bp", str(tmp_path / "nope.npz")), "nope.npz", "no such file")


def test_empty_file(tmp_path: Path) -> None:
    f = tmp_path / "empty.csv"
    f.write_text("")
    _assert_error(run("solve-bp", str(f)), "empty.csv", "is empty")


def test_comment_only_csv(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text("# nothing here\n\n")
    _assert_error(run("solve-bp", str(f)), "c.csv", "no data rows")


def test_unknown_extension(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text("{}")
    _assert_error(run("solve-bp", str(f)), "p.json", "'.json'", "expected .npz, .csv or .mat")


def test_wrong_format_for_extension(tmp_path: Path) -> None:
    f = tmp_path / "text.npz"
    f.write_text("1,2,3\n")
    _assert_error(run("solve-bp", str(f)), "text.npz", "not an npz")
    g = tmp_path / "bin.csv"
    g.write_bytes(b"\xff\xfe\x00\x01garbage")
    _assert_error(run("solve-bp", str(g)), "bin.csv", "not UTF-8")
    h = tmp_path / "bad.mat"
    h.write_bytes(b"MATLAB 5.0 junk" + b"\x00" * 20)
    _assert_error(run("solve-bp", str(h)), "bad.mat", "not a readable .mat")


def test_truncated_npz(tmp_path: Path) -> None:
    good = _npz(tmp_path / "g.npz", A=np.eye(2), y=np.ones(2))
    bad = tmp_path / "t.npz"
    bad.write_bytes(good.read_bytes()[:60])
    _assert_error(run("solve-bp", str(bad)), "t.npz", "not a valid npz")


def test_missing_arrays(tmp_path: Path) -> None:
    f = _npz(tmp_path / "m.npz", M=np.eye(2), y=np.ones(2))
    _assert_error(run("solve-bp", str(f)), "m.npz", "no array 'A'", "['M', 'y']")
    g = _npz(tmp_path / "n.npz", A=np.eye(2))
    _assert_error(run("solve-bp", str(g)), "n.npz", "no array 'y' or 'b'")


def test_b_is_an_alias_of_y(tmp_path: Path) -> None:
    f = _npz(tmp_path / "b.npz", A=np.array([[1.0, 2.0]]), b=np.array([2.0]))
    data = run_json("solve-bp", str(f))
    assert data["x"] == [0.0, 1.0]


def test_wrong_ndim_and_shape_mismatch(tmp_path: Path) -> None:
    f = _npz(tmp_path / "d.npz", A=np.ones((2, 2, 2)), y=np.ones(2))
    _assert_error(run("solve-bp", str(f)), "d.npz", "3 dimension(s)", "expected a 2-D")
    g = _npz(tmp_path / "s.npz", A=np.ones((3, 4)), y=np.ones(2))
    _assert_error(
        run("solve-bp", str(g)),
        "A has shape (3, 4) but y has shape (2,)",
        "expected y of shape (3,)",
    )


def test_non_numeric_and_ragged_csv(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("1,2,3\n4,abc,6\n")
    _assert_error(run("solve-bp", str(f)), "t.csv", "line 2", "'abc'", "not a number")
    g = tmp_path / "r.csv"
    g.write_text("1,2,3\n4,5\n")
    _assert_error(run("solve-bp", str(g)), "r.csv", "line 2", "has 2 cells", "3")


def test_csv_header_and_comments_are_accepted(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text("# a comment\na1,a2,y\n1,2,2  # trailing comment\n")
    assert run_json("solve-bp", str(f))["x"] == [0.0, 1.0]


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_values(tmp_path: Path, bad: str) -> None:
    f = tmp_path / "n.csv"
    f.write_text(f"1,2,3\n4,{bad},6\n")
    _assert_error(run("solve-bp", str(f)), "n.csv", "A[1, 1]", "expected finite")
    g = _npz(tmp_path / "n.npz", A=np.eye(2), y=np.array([1.0, float(bad)]))
    _assert_error(run("solve-bp", str(g)), "n.npz", "y[1]", "expected finite")


def test_complex_values(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text("1,2+1j,3\n")
    _assert_error(run("solve-bp", str(f)), "c.csv", "complex")
    g = _npz(tmp_path / "c.npz", A=np.eye(2) * (1 + 1j), y=np.ones(2))
    _assert_error(run("solve-bp", str(g)), "c.npz", "complex dtype")


def test_pickled_npz_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "p.npz"
    np.savez(f, A=np.array([{"evil": 1}], dtype=object), y=np.ones(1))
    _assert_error(run("solve-bp", str(f)), "p.npz", "pickled", "never loaded")
    # A raw pickle renamed to .npz is not even a zip archive.
    g = tmp_path / "raw.npz"
    g.write_bytes(pickle.dumps({"A": [[1.0]], "y": [1.0]}))
    _assert_error(run("solve-bp", str(g)), "raw.npz", "not an npz")


def test_string_arrays_are_refused(tmp_path: Path) -> None:
    f = _npz(tmp_path / "s.npz", A=np.array([["a", "b"]]), y=np.ones(1))
    _assert_error(run("solve-bp", str(f)), "s.npz", "dtype <U1", "expected real numbers")


def test_huge_declared_shape_is_refused(tmp_path: Path) -> None:
    # A valid .npy header that declares 10^10 entries, with no data behind it.
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }"
    header += " " * (118 - len(header)) + "\n"
    blob = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    f = tmp_path / "h.npz"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("A.npy", blob)
        z.writestr("y.npy", io.BytesIO().getvalue())
    result = run("solve-bp", str(f))
    _assert_error(result, "h.npz")


def test_mat_files(tmp_path: Path) -> None:
    f = tmp_path / "p.mat"
    scipy.io.savemat(
        f, {"A": np.array([[1.0, 1.0, 1.0], [3.0, 0.0, 1.0]]), "b": np.array([[3.0], [3.0]])}
    )
    data = run_json("solve-bp", str(f))
    assert data["face_dimension"] == 1
    g = tmp_path / "q.mat"
    scipy.io.savemat(g, {"B": np.eye(2)})
    _assert_error(run("solve-bp", str(g)), "q.mat", "no array 'A'")


def test_stdin_csv_and_npz() -> None:
    result = run("solve-bp", "-", "--json", input="1,1,1,3\n3,0,1,3\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["face_dimension"] == 1
    buffer = io.BytesIO()
    np.savez(buffer, A=np.array([[1.0, 2.0]]), y=np.array([2.0]))
    result = run("solve-bp", "-", "--json", input=buffer.getvalue())
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["x"] == [0.0, 1.0]
    _assert_error(run("solve-bp", "-", input=""), "<stdin>", "is empty")


def test_infeasible_system() -> None:
    result = run("solve-bp", "-", input="1,2,1\n2,4,0\n")
    _assert_error(result, "<stdin>", "not in the range of A")
    result = run("solve-bp", "-", "--json", input="1,2,1\n2,4,0\n")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "infeasible"


def test_bad_samples() -> None:
    _assert_error(run("solve-bp", "kink:abc"), "kink:abc", "EPS is 'abc'")
    _assert_error(run("solve-bp", "kink:2"), "kink:2", "0 <= EPS < 1")
    _assert_error(run("solve-bp", "gauss:1:2"), "gauss:1:2", "expected gauss:M:N:K:SEED")
    _assert_error(run("solve-bp", "gauss:5:10:20:0"), "K=20")


def test_usage_errors_exit_2() -> None:
    result = run("solve-bp", "--solver", "magic")
    assert result.exit_code == 2
    assert "Invalid value" in result.stderr and "magic" in result.stderr
    result = run("solve-bp", "--time-limit", "-1")
    assert result.exit_code == 2


def test_output_never_overwrites_input(tmp_path: Path) -> None:
    src = tmp_path / "line.npz"
    src.write_bytes((SAMPLE_DIR / "line.npz").read_bytes())
    before = src.read_bytes()
    result = run("solve-bp", str(src), "--output", str(src), "--force")
    assert result.exit_code == 2
    assert "input problem file" in result.stderr
    assert src.read_bytes() == before
    existing = tmp_path / "out.json"
    existing.write_text("keep me")
    result = run("solve-bp", "line", "--output", str(existing))
    assert result.exit_code == 2 and "--force" in result.stderr
    assert existing.read_text() == "keep me"


@pytest.mark.parametrize("suffix", [".json", ".npz", ".csv"])
def test_output_formats(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"sol{suffix}"
    result = run("solve-bp", "random3x5", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    if suffix == ".json":
        assert json.loads(out.read_text())["unique"] is True
    elif suffix == ".npz":
        with np.load(out) as data:
            np.testing.assert_allclose(data["x"][2:], [-0.27822, -0.949197, -0.536551], atol=5e-6)
    else:
        text = out.read_text()
        assert text.splitlines()[0].startswith("# ")
        assert "index,x," in text
    assert not list(tmp_path.glob(".*tmp"))


def test_output_into_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "out.json"
    for args in (
        ["solve-bp", "line", "--output", str(missing)],
        ["flow", "line", "--alpha", "1e-2", "--trajectory", str(missing.with_suffix(".npz"))],
        ["compare", "line", "--depth", "3", "--plot", str(missing.with_suffix(".png"))],
    ):
        result = run(*args)
        assert result.exit_code == 2, result.stderr
        assert "does not exist" in result.stderr and "Traceback" not in result.stderr
