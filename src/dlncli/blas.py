"""Run a block with single-threaded OpenBLAS.

The ODE makes thousands of small and medium BLAS/LAPACK calls in sequence (d x d LU factors,
N x d products). OpenBLAS threads them, and on a machine whose cores are busy its threads wait
for each other: a 200 x 200 LU measured 0.2 s with threads against 0.7 ms on one thread (2 cores,
load 7). numpy and scipy each load their own copy of OpenBLAS; both are limited.

Linux only (the libraries are found in /proc/self/maps); elsewhere, or when no OpenBLAS is
loaded, the block runs unchanged.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_SUFFIXES = ("64_", "_64", "")
_PREFIXES = ("scipy_openblas", "openblas")


def _thread_controls() -> list[tuple[Callable[[], int], Callable[[int], None]]]:
    """(get, set) number-of-threads functions of every OpenBLAS loaded in this process."""
    try:
        with open("/proc/self/maps") as handle:
            paths = {line.split()[-1] for line in handle if "openblas" in line.lower()}
    except OSError:
        return []
    controls = []
    for path in sorted(p for p in paths if os.path.isfile(p)):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            found = None
            for suffix in _SUFFIXES:
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if getter is not None and setter is not None:
                    found = (getter, setter)
                    break
            if found is not None:
                getter, setter = found
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                controls.append((getter, setter))
                break
    return controls


_CONTROLS: list[tuple[Callable[[], int], Callable[[int], None]]] | None = None


@contextmanager
def single_threaded() -> Iterator[None]:
    """OpenBLAS on one thread inside the block; the previous counts restored after it."""
    global _CONTROLS
    if _CONTROLS is None:
        _CONTROLS = _thread_controls()
    previous = [get() for get, _ in _CONTROLS]
    try:
        for _, set_threads in _CONTROLS:
            set_threads(1)
        yield
    finally:
        for (_, set_threads), count in zip(_CONTROLS, previous, strict=True):
            set_threads(max(int(count), 1))
