"""Tests for analog.cost: counting, pricing, baselines, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog.cost import (
    DigitalCosts,
    MacroCosts,
    adc_energy,
    analog_cost,
    collect,
    compare,
    digital_cost,
)

# One 128x128 dense layer, one input vector, 8-bit bit-serial inputs on one tile:
# 8 planes -> 8 array reads / cycles, 8 x 128 DAC and ADC conversions, 8 x 128
# shift-adds, 128 x 128 MACs.
DENSE_128 = {
    "macs": 128.0 * 128.0,
    "array_reads": 8.0,
    "array_cycles": 8.0,
    "dac_conversions": 8.0 * 128,
    "adc_conversions": 8.0 * 128,
    "digital_ops": 8.0 * 128,
}


def test_collect_sums_nested_sow_tree():
    tree = {
        "Dense_0": {"macs": (100.0,), "adc_conversions": (10.0, 5.0)},
        "Block_0": {"Dense_1": {"macs": (jnp.array(50.0),), "cam_cells": np.array([1.0, 2.0])}},
        "array_reads": 3,
    }
    got = collect(tree)
    assert set(got) == {"macs", "adc_conversions", "cam_cells", "array_reads"}
    assert float(got["macs"]) == 150.0
    assert got["adc_conversions"] == 15.0
    assert got["cam_cells"] == 3.0
    assert got["array_reads"] == 3.0
    with pytest.raises(ValueError, match="no key name"):
        collect([1.0])


def test_isaac_adc_is_1p5625_pj_per_conversion():
    assert adc_energy(8) == pytest.approx(1.5625e-12, rel=1e-12)
    assert MacroCosts.isaac_like().adc_j == pytest.approx(1.5625e-12, rel=1e-12)
    assert adc_energy(4) == pytest.approx(0.78125e-12)  # linear in bits
    assert adc_energy(4, "walden") == pytest.approx(1.5625e-12 / 16)
    out = analog_cost({"adc_conversions": 1.0}, MacroCosts.isaac_like())
    assert out["energy_j"] == pytest.approx(1.5625e-12)


def test_hand_computed_dense_layer_isaac():
    out = analog_cost(DENSE_128, MacroCosts.isaac_like())
    # By hand (ISAAC Table 6, 100 ns cycle):
    #   array   8 x 0.3 mW x 100 ns            =  240 pJ
    #   DAC  1024 x 4 mW / 1024 x 100 ns       =  400 pJ
    #   ADC  1024 x 2 mW / 1.28 GS/s           = 1600 pJ
    #   S+A  1024 x 0.2 mW / (8 x 1.28 GS/s)   =   20 pJ
    assert out["energy_array_j"] == pytest.approx(240e-12)
    assert out["energy_dac_j"] == pytest.approx(400e-12)
    assert out["energy_adc_j"] == pytest.approx(1600e-12)
    assert out["energy_digital_j"] == pytest.approx(20e-12)
    assert out["energy_j"] == pytest.approx(2260e-12)
    assert out["latency_s"] == pytest.approx(8 * 100e-9)


def test_mnsim_timing_and_physics_array_energy():
    # MNSIM-2.0 / RNC: 8 bit-serial planes through a 128x128 box = 152.77 ns.
    assert analog_cost(DENSE_128, MacroCosts.rram_40nm())["latency_s"] == pytest.approx(152.77e-9)
    # V^2 G t per cell: 0.15 V, (1 uS + 100 uS) / 2, 128 x 128 cells, 3.16 ns.
    m = MacroCosts.from_physics(0.15, 50.5e-6, 128, 128, 3.16e-9)
    assert m.array_read_j == pytest.approx(5.88265e-11, rel=1e-5)


def test_energy_is_linear_in_counts():
    counts = dict(DENSE_128, cam_searches=3.0, cam_cells=300.0, integrator_time=1e-6,
                  integrator_channel_seconds=4e-6, programming_pulses=7.0)
    double = {k: 2 * v for k, v in counts.items()}
    for macro in (MacroCosts.isaac_like(), MacroCosts.rram_40nm()):
        one, two = analog_cost(counts, macro), analog_cost(double, macro)
        assert two["energy_j"] == pytest.approx(2 * one["energy_j"])
        assert two["latency_s"] == pytest.approx(2 * one["latency_s"])


def test_digital_baseline_by_hand_and_ratio_direction():
    gpu = DigitalCosts.gpu()  # 19.5 TFLOP/s x 0.5, 400 W, 10 us per layer
    d = digital_cost(dict(DENSE_128, layers=1.0), gpu)
    latency = (2 * 128 * 128) / 9.75e12 + 10e-6  # digital_ops are analogue-only work
    assert d["latency_s"] == pytest.approx(latency)
    assert d["energy_j"] == pytest.approx(400.0 * (latency - 10e-6))  # energy at throughput
    r = compare(dict(DENSE_128, layers=1.0), MacroCosts.isaac_like(), gpu)
    assert r["energy_ratio"] == pytest.approx(r["digital_energy_j"] / r["analog_energy_j"])
    assert r["energy_ratio"] > 1 and r["latency_ratio"] > 1  # the macro wins here
    # Make the macro absurdly expensive and slow: now the ratio must drop below 1.
    bad = MacroCosts.isaac_like().replace(adc_j=1.0, cycle_s=1.0)
    r = compare(DENSE_128, bad, gpu)
    assert r["energy_ratio"] < 1 and r["latency_ratio"] < 1


def test_flops_override_and_integrator_needs_flops():
    cpu = DigitalCosts.cpu()
    a = digital_cost({"macs": 10.0, "flops": 1000.0}, cpu)
    assert a["ops"] == 1000.0
    with pytest.raises(ValueError, match="flops"):
        digital_cost({"integrator_time": 1e-3}, cpu)
    assert digital_cost({"integrator_time": 1e-3, "flops": 5.0}, cpu)["ops"] == 5.0


def test_unknown_and_negative_counts_raise():
    with pytest.raises(ValueError, match="adc_conversion"):
        analog_cost({"adc_conversion": 1.0}, MacroCosts.isaac_like())  # typo: missing 's'
    with pytest.raises(ValueError, match="unknown count key"):
        digital_cost({"Dense_0": {"mac": (1.0,)}}, DigitalCosts.gpu())
    with pytest.raises(ValueError, match="macs"):
        analog_cost({"macs": -1.0}, MacroCosts.isaac_like())


def test_validation_names_the_field():
    with pytest.raises(ValueError, match="MacroCosts.adc_j"):
        MacroCosts.isaac_like().replace(adc_j=-1e-12)
    with pytest.raises(ValueError, match="MacroCosts.cycle_s"):
        MacroCosts.isaac_like().replace(cycle_s=0.0)
    with pytest.raises(ValueError, match="DigitalCosts.utilisation"):
        DigitalCosts.gpu(utilisation=1.5)
    with pytest.raises(ValueError, match="precision"):
        DigitalCosts.gpu(precision="fp8")
    with pytest.raises(ValueError, match="bits"):
        adc_energy(0)


def test_jit_matches_eager():
    macro, gpu = MacroCosts.rram_40nm(), DigitalCosts.gpu()
    counts = {k: jnp.asarray(v) for k, v in DENSE_128.items()}
    eager = compare(DENSE_128, macro, gpu)
    jitted = jax.jit(compare)(counts, macro, gpu)
    for k, v in eager.items():
        np.testing.assert_allclose(float(jitted[k]), v, rtol=1e-5)
    tree = {"Dense_0": {"macs": (jnp.ones(()),)}, "Dense_1": {"macs": (jnp.ones(()),)}}
    assert float(jax.jit(collect)(tree)["macs"]) == 2.0


# ------------------------------------------------------------------ new kinds, dynamic inference
from analog.cost import PRICES, dynamic_counts, stage_counts  # noqa: E402


def test_every_count_kind_has_one_price_row_and_prices_exist():
    macro = MacroCosts.rram_40nm()
    for key, (group, energy, latency) in PRICES.items():
        for price in (energy, latency):
            assert price is None or isinstance(price, float) or hasattr(macro, price), (key, price)
    out = analog_cost({key: 1.0 for key in PRICES}, macro)
    parts = [v for k, v in out.items() if k.startswith("energy_") and k != "energy_j"]
    assert out["energy_j"] == pytest.approx(sum(parts))


def test_neuron_updates_conduction_time_and_pulses_are_priced_by_hand():
    macro = MacroCosts.rram_40nm()
    out = analog_cost({"neuron_updates": 1e6, "array_tile_seconds": 1e-3, "programming_pulses": 10.0}, macro)
    assert out["energy_neuron_j"] == pytest.approx(1e6 * 0.25e-12)           # NeuRRAM neuron, 0.25 pJ
    # a 128 x 128 tile conducting for 1 ms: 0.2 V^2 x 17.03 uS x 16384 cells x 0.5 x 1 ms
    assert out["energy_conduction_j"] == pytest.approx(0.04 * 0.5 * 34.06e-6 * 16384 * 0.5 * 1e-3)
    assert out["energy_program_j"] == pytest.approx(10 * 9e-12)                # MNSIM write: 3 V^2 / 10 kOhm x 10 ns
    assert out["latency_program_s"] == pytest.approx(10 * 10e-9)
    # the digital side does the neuron updates too: 4 ops each
    d = digital_cost({"neuron_updates": 1e6}, DigitalCosts.gpu())
    assert d["ops"] == pytest.approx(4e6)
    with pytest.raises(ValueError, match="flops"):
        digital_cost({"array_tile_seconds": 1.0}, DigitalCosts.gpu())


def test_mnsim_timing_has_one_home():
    from analog.compiler import CompilerSpec

    assert CompilerSpec().cycle_s == pytest.approx(8 * MacroCosts.rram_40nm().cycle_s, rel=1e-12)


SOWN = {  # a flax "cost" collection of a three-stage dynamic network
    "stem": {"conv": {"macs": 1000.0, "array_reads": 10.0}},
    "exit_1": {"cam": {"cam_searches": 1.0, "cam_cells": 64.0}},
    "block_2": {"dense": {"macs": 4000.0, "array_reads": 40.0}, "lif": {"neuron_updates": 50.0}},
}


def test_dynamic_counts_equal_static_when_every_stage_runs_and_scale_with_the_fraction():
    stages = stage_counts(SOWN)
    assert set(stages) == {"stem", "exit_1", "block_2"}
    static = collect(SOWN)
    np.testing.assert_equal(dynamic_counts(stages, {}), static)
    np.testing.assert_equal(dynamic_counts(stages, {"stem": 1.0, "exit_1": 1.0, "block_2": 1.0}), static)
    for f in (0.0, 0.25, 0.6):
        got = dynamic_counts(stages, {"block_2": f})
        assert got["macs"] == pytest.approx(1000.0 + f * 4000.0)
        assert got["neuron_updates"] == pytest.approx(f * 50.0)
        assert got["cam_cells"] == 64.0
    # per count kind: spike activity scales only the array reads of a stage
    got = dynamic_counts(stages, {"block_2": {"array_reads": 0.1}})
    assert got["array_reads"] == pytest.approx(10.0 + 4.0) and got["macs"] == 5000.0
    energy = lambda f: analog_cost(dynamic_counts(stages, {"block_2": f}), MacroCosts.rram_40nm())["energy_j"]
    e0, e1 = energy(0.0), energy(1.0)
    assert energy(0.3) == pytest.approx(e0 + 0.3 * (e1 - e0))  # linear in the executed fraction
    with pytest.raises(ValueError, match="unknown stage"):
        dynamic_counts(stages, {"block_3": 0.5})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dynamic_counts(stages, {"stem": 1.5})
