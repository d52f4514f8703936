"""The embedded SQLite store of a phase sweep: one row per finished trial, written at once.

A row is keyed by (noise, m, k, trial, method, depth, log_alpha, lr, lr_relative), noise being
the sweep's sigma (0 without noise; one store holds one noise level, which its parameters fix as
well); parameters a method does not use are stored as 0 so that the primary key never contains
NULL (SQLite treats NULLs as distinct and would then accept duplicates). ``lr_relative`` is 1
when lr is a fraction of each instance's stability bound 2 / lambda_max (``phase
--lr-relative``), 0 when it is the step size.
The store also keeps its format, the dlncli version and the sweep's parameters (a canonical
JSON document) and refuses to be reused by a different sweep. WAL mode lets a reader (another
``dlncli phase --resume``, a notebook) look while the sweep writes, and a commit per trial means
an interrupted sweep loses only the trials still in flight.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlncli.errors import DlnError

__all__ = ["STATUSES", "PhaseStore", "StoreError", "StoredTrial"]

# 2: lr_relative in the key; status, lr_used, steps, sharpness per trial.
# 3: the noise level sigma in the key; the squared error ||x_hat - x||_2^2 per trial.
FORMAT = "3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    noise REAL NOT NULL,
    m INTEGER NOT NULL, k INTEGER NOT NULL, trial INTEGER NOT NULL,
    method TEXT NOT NULL, depth REAL NOT NULL, log_alpha REAL NOT NULL, lr REAL NOT NULL,
    lr_relative INTEGER NOT NULL,
    success INTEGER NOT NULL, status TEXT NOT NULL, error_inf REAL, solve_s REAL NOT NULL,
    lr_used REAL, steps INTEGER, sharpness REAL, sq_error REAL,
    PRIMARY KEY (noise, m, k, trial, method, depth, log_alpha, lr, lr_relative)
);
"""

TrialKey = tuple[int, int, int, str, float, float, float, int]

# How a trial ended. "ok": the solver returned x_hat; "failed": it raised (e.g. Newton did not
# converge); "diverged": GD's loss blew up or a step left u, v > 0; "max-steps": GD stopped at
# its step budget above its loss target (x_hat is still judged).
STATUSES = ("ok", "failed", "diverged", "max-steps")


class StoreError(DlnError):
    """The --store file cannot be used for this sweep (other sweep, other version, unreadable)."""


@dataclass(frozen=True)
class StoredTrial:
    """One finished trial of one method variant on one instance."""

    key: TrialKey
    success: bool
    status: str  # one of STATUSES; "failed" and "diverged" are never a success
    error_inf: float | None  # ||x_hat - x||_inf / ||x||_inf, None when failed or diverged
    solve_s: float  # seconds inside the solver(s), for the overhead benchmark
    lr_used: float | None = None  # GD: the step size eta used (differs from lr if relative)
    steps: int | None = None  # GD: steps taken
    sharpness: float | None = None  # GD: eta lambda_max(Hessian) at the last iterate
    # ||x_hat - x||_2^2 (math.fsum of the squares: the same on every CPU), None when failed or
    # diverged: the sweep's mean squared error is computed from these exactly
    sq_error: float | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


class PhaseStore:
    """A sweep's trials in an SQLite file (WAL), at noise level ``noise`` (the sweep's sigma;
    rows are written and read at this level only). Use as a context manager."""

    def __init__(self, path: Path, *, noise: float = 0.0) -> None:
        self.path = path
        self.noise = float(noise)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a usable SQLite store ({exc})") from None

    def __enter__(self) -> PhaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def claim(self, *, version: str, params: Mapping[str, Any], resume: bool) -> None:
        """Bind the store to this sweep, or check that it already belongs to it.

        Raises
        ------
        StoreError : the store holds trials but ``resume`` is False; or it was written by
            another dlncli version or for different sweep parameters.
        """
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        wanted = json.dumps(params, sort_keys=True, allow_nan=False)
        if not meta:
            with self._transaction():
                self._db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("format", FORMAT), ("dlncli_version", version), ("params", wanted)],
                )
            return
        if "params" not in meta or "format" not in meta:
            raise StoreError(f"{self.path}: not a dlncli phase store (no format or parameters)")
        if meta["format"] != FORMAT:
            raise StoreError(
                f"{self.path}: a phase store of format {meta['format']}, this dlncli writes "
                f"format {FORMAT}; expected the same format (use a new --store file)"
            )
        if meta.get("dlncli_version") != version:
            raise StoreError(
                f"{self.path}: written by dlncli {meta.get('dlncli_version')}, this is {version}; "
                "expected the same version (use a new --store file)"
            )
        if meta["params"] != wanted:
            raise StoreError(
                f"{self.path}: holds a different sweep ({_difference(meta['params'], params)}); "
                "expected the same parameters (use a new --store file)"
            )
        if not resume and self.count():
            raise StoreError(
                f"{self.path}: already holds {self.count()} trials of this sweep; "
                "expected --resume to continue it, or a new --store file"
            )

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def load(self) -> dict[TrialKey, StoredTrial]:
        rows = self._db.execute(
            "SELECT m, k, trial, method, depth, log_alpha, lr, lr_relative, success, status, "
            "error_inf, solve_s, lr_used, steps, sharpness, sq_error FROM trials WHERE noise = ?",
            (self.noise,),
        ).fetchall()
        out: dict[TrialKey, StoredTrial] = {}
        for row in rows:
            key: TrialKey = (
                int(row[0]),
                int(row[1]),
                int(row[2]),
                str(row[3]),
                float(row[4]),
                float(row[5]),
                float(row[6]),
                int(row[7]),
            )
            out[key] = StoredTrial(
                key,
                success=bool(row[8]),
                status=str(row[9]),
                error_inf=row[10],
                solve_s=float(row[11]),
                lr_used=row[12],
                steps=row[13],
                sharpness=row[14],
                sq_error=row[15],
            )
        return out

    def write(self, trials: Iterable[StoredTrial]) -> None:
        """Insert the trials of one instance in one transaction. A key already stored is a
        bug (the same trial computed twice) and raises sqlite3.IntegrityError."""
        with self._transaction():
            self._db.executemany(
                "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        self.noise,
                        *t.key,
                        int(t.success),
                        t.status,
                        t.error_inf,
                        t.solve_s,
                        t.lr_used,
                        t.steps,
                        t.sharpness,
                        t.sq_error,
                    )
                    for t in trials
                ],
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _difference(stored: str, params: Mapping[str, Any]) -> str:
    """The first parameter that differs, for the error message."""
    try:
        old = json.loads(stored)
    except json.JSONDecodeError:
        return "unreadable parameters"
    for key in sorted(set(old) | set(params)):
        if old.get(key) != params.get(key):
            return f"{key} {_short(params.get(key))} here, {_short(old.get(key))} in the store"
    return "parameters differ"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
