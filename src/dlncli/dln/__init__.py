"""The diagonal linear network: geometry, potentials, limit, ODE, path, training."""
