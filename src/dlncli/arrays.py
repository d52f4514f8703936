"""Array aliases and constants shared by every module."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
LN10 = math.log(10.0)
# Unit roundoff of float64: fl(a op b) = (a op b)(1 + d) with |d| <= UNIT_ROUNDOFF.
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2
