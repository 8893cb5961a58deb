"""train.bench: the HEGNN benchmark is registered."""

from train import bench


def test_hegnn_benchmark_is_registered():
    run, line = bench.BENCHMARKS["hegnn"]
    assert run is bench.run_hegnn and "EGNN" in line


def test_time_loop_benchmark_reports_both_loops_as_a_ratio():
    row = bench.time_loop_benchmark(steps=5, size=16, repeats=1)
    assert row["steps"] == 5 and row["programmed_once_ms"] > 0 and row["programmed_every_step_ms"] > 0
    assert row["ratio_every_step_vs_once"] == row["programmed_every_step_ms"] / row["programmed_once_ms"]
