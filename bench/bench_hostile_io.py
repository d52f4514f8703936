"""How fast hostile input is refused, and how much memory the refusal costs.

Run: python -m bench.bench_hostile_io

Each case runs in a fresh interpreter (``load_problem`` at the default 256 MiB cap) and reports
the wall time to the refusal and the process's peak RSS, against the same interpreter loading
the 'line' sample: a refusal "before allocating" costs no more memory than that baseline, except
where the cap itself is what gets read (/dev/zero through a .csv name reads 256 MiB first).
"""

from __future__ import annotations

import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from bench.common import machine


def npy_header(shape: tuple[int, ...]) -> bytes:
    """A version 1.0 .npy header for float64 data of ``shape`` (no data after it)."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (117 - len(header)) + "\n"  # 10 + 118 = 128 bytes, 64-aligned
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


def deflate_bomb(path: Path, rows: int, cols: int) -> None:
    """An npz whose 'A.npy' is an honest deflate stream of rows*cols float64 zeros, written
    without compressing them all: one full-flush block of 1 MiB of zeros, repeated."""
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    one_mib = block.compress(b"\0" * 2**20) + block.flush(zlib.Z_FULL_FLUSH)
    header = npy_header((rows, cols))
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = head.compress(header) + head.flush(zlib.Z_FULL_FLUSH)
    total = rows * cols * 8
    assert total % 2**20 == 0
    data = start + one_mib * (total // 2**20) + b"\x03\x00"  # final empty fixed block
    size = len(header) + total
    name = b"A.npy"
    # zip64 extra fields carry the sizes; the CRC is never reached, the cap refuses first.
    local_extra = struct.pack("<HHQQ", 1, 16, size, len(data))
    local = (
        struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(name), 20
        )
        + name
        + local_extra
    )
    central_extra = struct.pack("<HHQQQ", 1, 24, size, len(data), 0)
    central = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            45,
            45,
            0,
            8,
            0,
            0,
            0,
            0xFFFFFFFF,
            0xFFFFFFFF,
            len(name),
            28,
            0,
            0,
            0,
            0,
            0xFFFFFFFF,
        )
        + name
        + central_extra
    )
    cd_offset = len(local) + len(data)
    eocd64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, len(central), cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, cd_offset + len(central), 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), 0xFFFFFFFF, 0)
    path.write_bytes(local + data + central + eocd64 + locator + eocd)


_PROBE = """
import resource, sys, time
from dlncli.problem_io import load_problem
from dlncli.errors import ProblemFormatError
start = time.perf_counter()
try:
    load_problem(sys.argv[1])
    outcome = "loaded"
except ProblemFormatError as exc:
    outcome = "refused: " + str(exc)[:60]
elapsed = time.perf_counter() - start
print(f"{elapsed:.4f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} {outcome}")
"""


def _probe(source: str) -> tuple[float, float, str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, source], capture_output=True, text=True, check=True
    ).stdout.split(" ", 2)
    return float(out[0]), float(out[1]), out[2].strip()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bomb = root / "bomb.npz"
        deflate_bomb(bomb, 10 * 2**14, 2**13)
        header = root / "header.npz"
        import zipfile

        with zipfile.ZipFile(header, "w") as z:
            z.writestr("A", npy_header((100000, 100000)))
            z.writestr("y", npy_header((100000,)))
        zero = root / "zero.csv"
        zero.symlink_to("/dev/zero")
        cases = [
            ("baseline: sample 'line'", "line"),
            (f"deflate bomb, {bomb.stat().st_size / 2**20:.1f} MiB -> 10 GiB", str(bomb)),
            ("npz member 'A' declaring 74.5 GiB", str(header)),
            ("gauss:1:50000000:1:0 (381 MiB)", "gauss:1:50000000:1:0"),
            ("/dev/zero as zero.csv (reads the 256 MiB cap)", str(zero)),
        ]
        print(f"machine: {machine()} (shared with other jobs: times are noisy)")
        print(f"{'case':48} {'time':>9} {'peak RSS':>10}  outcome")
        for label, source in cases:
            seconds, rss_mib, outcome = _probe(source)
            print(f"{label:48} {seconds:8.3f}s {rss_mib:8.0f} MiB  {outcome}")


if __name__ == "__main__":
    main()
