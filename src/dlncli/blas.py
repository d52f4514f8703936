"""The BLAS thread pool, limited where many small BLAS calls run in sequence."""

from __future__ import annotations

from contextlib import AbstractContextManager

__all__ = ["single_threaded_blas"]


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
