"""Noisy measurements y = A x + z: the lasso's noise-sensitivity theory, the lasso path with
cross-validation, basis pursuit denoising (docs/noise.md)."""
