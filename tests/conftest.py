import jax

# Tests compare against float64-free references with float32 tolerances; keep
# JAX on the CPU and deterministic.
jax.config.update("jax_platforms", "cpu")


def pytest_collection_modifyitems(config, items):
    """Start the slow tests first, spread over the xdist workers, so that no long test
    begins near the end and leaves one core idle (xdist hands each worker a first
    chunk of consecutive tests: a quarter of its share)."""
    workers = int(__import__("os").environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    slow = [item for item in items if item.get_closest_marker("slow")]
    if workers < 2 or not slow:
        return
    rest = [item for item in items if not item.get_closest_marker("slow")]
    chunk = max(2, len(items) // workers // 4)
    ordered = list(rest)
    for i, item in enumerate(slow):  # the i-th slow test opens worker (i mod workers)'s first chunk
        ordered.insert(min(len(ordered), (i % workers) * chunk + i // workers), item)
    items[:] = ordered
