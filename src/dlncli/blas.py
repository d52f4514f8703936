"""The BLAS thread pool, limited where many small BLAS calls run in sequence."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager

__all__ = ["one_blas_thread", "single_threaded_blas"]


def single_threaded_blas() -> AbstractContextManager[object]:
    """OpenBLAS limited to one thread (numpy's and scipy's copies, by threadpoolctl).

    The ODE makes thousands of small BLAS/LAPACK calls in sequence (d x d LU factors, N x d
    products); OpenBLAS threads them, and on a machine whose cores are busy its threads wait
    for each other (a 200 x 200 LU: 0.2 s threaded against 0.7 ms on one thread, 2 cores at
    load 7). A phase sweep on one worker uses it too: one worker is one core, as on a Dask
    worker (which starts with OPENBLAS_NUM_THREADS=1), and a BP trial at N = 200 is no faster
    with two threads, which only spin (13 s of CPU for 13 s of wall time on one thread, 23 s
    on two).
    """
    # threadpoolctl limits the BLAS libraries loaded when the limit is set. scipy ships its own
    # OpenBLAS, loaded with scipy.linalg: imported first, so that a later lazy import (the
    # homotopy's dtrsv) does not run on the default threads (1.5 ms per 300 x 300 triangular
    # solve instead of 0.05 ms on a busy machine, the two threads waiting for each other).
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    limits: AbstractContextManager[object] = threadpool_limits(limits=1, user_api="blas")
    return limits


# threadpoolctl's limit is process-wide, and OpenBLAS (0.3.30/0.3.31 here) takes a raise of
# its thread count only from the thread that lowered it: restored from another thread, the
# limit stays at 1 for good. So among concurrent calls the one that set the limit restores it
# when it leaves; calls still running then go on with the default threads (slower, never
# wrong), and the next call to start sets the limit again. Nested calls in the owner thread
# (an entry point around the limit, solve_basis_pursuit inside it) count their depth: only
# the outermost one restores.
_LOCK = threading.Lock()
_limit: AbstractContextManager[object] | None = None
_owner: int | None = None
_depth = 0


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """:func:`single_threaded_blas` for code that may run in several threads at once or nest:
    the policy of every entry point that makes many BLAS calls in sequence (basis pursuit,
    the BP anchor, the exact limit; docs/performance.md, "Threads")."""
    global _limit, _owner, _depth
    me = threading.get_ident()
    with _LOCK:
        if _limit is None:
            _limit, _owner, _depth = single_threaded_blas(), me, 0
            _limit.__enter__()
        if _owner == me:
            _depth += 1
    try:
        yield
    finally:
        with _LOCK:
            if _owner == me and _limit is not None:
                _depth -= 1
                if _depth == 0:
                    _limit.__exit__(None, None, None)
                    _limit, _owner = None, None
