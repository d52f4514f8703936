"""Phase transitions: ensemble sweeps, their store, the asymptotic theory."""
