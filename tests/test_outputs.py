"""Every --output format holds what --json prints: the npz archive carries the whole document
(``document``) and every numeric leaf as an array under its dotted path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import run, run_json


def _leaves(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _leaves(f"{prefix}.{key}" if prefix else key, item)
        return out
    if isinstance(value, list) and not all(isinstance(v, int | float) for v in value):
        out = {}
        for index, item in enumerate(value):
            out |= _leaves(f"{prefix}.{index}", item)
        return out
    return {prefix: value}


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not k.endswith("_s")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "line", "--depth", "3", "--alpha-p-range", "1", "1e-2", "2"],
        ["tie-break", "line", "--depth", "2", "--depth", "3"],
        ["potentials", "--depth", "2,3", "--z", "0,0.5"],
        ["solve-bp", "random3x5"],
    ],
    ids=lambda a: a[0],
)
def test_npz_output_holds_the_json_document(tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "result.npz"
    assert run(*args, "--output", str(out)).exit_code == 0
    document = run_json(*args)
    with np.load(out) as archive:
        saved = json.loads(str(archive["document"]))
        assert _without_timings(saved) == _without_timings(document)
        numeric = {
            k: v
            for k, v in _leaves("", document).items()
            if isinstance(v, int | float | list) and not k.endswith("_s")
        }
        assert numeric, "the document has numbers"
        for key, value in numeric.items():
            if isinstance(value, list) and not value:
                continue
            np.testing.assert_array_equal(archive[key], np.asarray(value), err_msg=key)
