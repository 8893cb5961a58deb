import jax

# Tests compare against float64-free references with float32 tolerances; keep
# JAX on the CPU and deterministic.
jax.config.update("jax_platforms", "cpu")
