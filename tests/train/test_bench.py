"""train.bench: the HEGNN benchmark is registered."""

from train import bench


def test_hegnn_benchmark_is_registered():
    run, line = bench.BENCHMARKS["hegnn"]
    assert run is bench.run_hegnn and "EGNN" in line
