"""Property-based checks of the analog boundaries (hypothesis): values inside the
documented ranges never produce an exception or a NaN; values outside them always
raise a ValueError naming the field; shapes are checked with both shapes named."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analog import crossbar, device
from analog.cam import CAMSpec
from analog.converters import ADC, DAC
from analog.cost import DigitalCosts, MacroCosts
from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from analog.integrator import IntegratorSpec

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KEY = jax.random.PRNGKey(0)
small = lambda hi: st.floats(0.0, hi, allow_nan=False, allow_infinity=False)


@st.composite
def rram_kwargs(draw):
    g_min = draw(small(50e-6))
    low = draw(small(0.3))
    return dict(
        g_min=g_min, g_max=g_min + draw(st.floats(1e-6, 100e-6)), levels=draw(st.one_of(st.none(), st.integers(2, 16))),
        clip_window=draw(st.booleans()), prog_sigma=draw(small(10e-6)),
        prog_poly=tuple(draw(st.lists(small(0.05), max_size=3))), d2d_sigma=draw(small(0.3)),
        stuck_low_prob=low, stuck_high_prob=draw(small(1.0 - low)), read_sigma=draw(small(5e-6)),
        read_sigma_rel=draw(small(0.2)), read_1f_q=draw(small(0.05)), drift_nu=draw(small(0.2)),
        drift_nu_std=draw(small(0.05)),
    )


@SETTINGS
@given(rram_kwargs(), st.sampled_from([4, 9]), st.just(3), st.sampled_from([2, 16]), st.sampled_from([None, 4, 8]),
       st.sampled_from([None, 6, 10]), st.sampled_from(["differential", "offset"]), st.sampled_from([1.0, 3600.0]))
def test_in_range_specs_program_and_read_finite(kw, n_in, n_out, tile_rows, dac_bits, adc_bits, mapping, t):
    # few distinct shapes: each new shape compiles every eager op once
    spec = CrossbarSpec(device=RRAM(**kw), tile_rows=tile_rows, mapping=mapping, t_inference=t,
                        dac=None if dac_bits is None else DAC(dac_bits), adc=None if adc_bits is None else ADC(adc_bits))
    w = jax.random.normal(KEY, (n_in, n_out))
    x = jax.random.normal(jax.random.fold_in(KEY, 1), (3, n_in))
    arr = crossbar.program(KEY, w, spec)
    y = crossbar.mvm(jax.random.PRNGKey(1), arr, x, spec)
    assert y.shape == (3, n_out) and bool(jnp.all(jnp.isfinite(y)))
    g = device.read(KEY, arr.g_pos, spec.device, t, arr.g_pos)
    assert bool(jnp.all(jnp.isfinite(g))) and bool(jnp.all(g >= 0))


NONNEGATIVE = ("g_min", "prog_sigma", "d2d_sigma", "read_sigma", "read_sigma_rel", "read_1f_q", "form_std",
               "reset_std", "stuck_low_prob", "stuck_high_prob", "unformed_prob", "g_unformed")
BAD = st.one_of(st.floats(-1.0, -1e-12), st.just(math.nan), st.just(math.inf), st.just(-math.inf),
                st.just("0.1"), st.just(None))


@SETTINGS
@given(st.sampled_from(NONNEGATIVE + ("g_max", "t0", "t_read")), BAD)
def test_out_of_range_rram_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"RRAM\.{field} = "):
        RRAM(**{field: value})


@SETTINGS
@given(st.sampled_from([(DAC, "bits", st.integers(-4, 1) | st.integers(33, 99) | st.just(8.5)),
                        (ADC, "bits", st.integers(-4, 0) | st.integers(33, 99)),
                        (ADC, "fullscale", BAD),
                        (CrossbarSpec, "tile_rows", st.integers(-5, 0)),
                        (CrossbarSpec, "v_read", BAD),
                        (CrossbarSpec, "t_inference", BAD),
                        (CrossbarSpec, "verify_tol", st.floats(-1.0, -1e-9)),
                        (CAMSpec, "v_search", BAD),
                        (IntegratorSpec, "tau", BAD),
                        (IntegratorSpec, "dt", BAD),
                        (DigitalCosts, "utilisation", st.floats(1.01, 5.0) | st.floats(-1.0, 0.0))]), st.data())
def test_out_of_range_values_of_every_spec_name_the_field(case, data):
    cls, field, values = case
    kwargs = {"peak_flops": 1e12, "utilisation": 0.5, "power_w": 100.0, "layer_overhead_s": 0.0} if cls is DigitalCosts else {}
    kwargs[field] = data.draw(values)
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{field} = "):
        cls(**kwargs)


@SETTINGS
@given(st.floats(1e-6, 1e-2), st.floats(0.0, 1e-3), st.floats(1e-12, 1e-10), st.floats(1e-3, 1.0))
def test_in_range_cost_and_integrator_specs_build(tau, noise_density, energy, utilisation):
    IntegratorSpec(tau=tau, noise_density=noise_density, solver="heun", dt=tau / 20)
    MacroCosts(array_read_j=energy, dac_j=energy, adc_j=energy, digital_op_j=energy, cycle_s=1e-8)
    DigitalCosts(peak_flops=1e12, utilisation=utilisation, power_w=100.0, layer_overhead_s=0.0)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(st.integers(1, 8), st.integers(1, 8), st.integers(0, 9))
def test_shape_errors_give_the_expected_and_the_received_shape(n_in, n_out, wrong):
    spec = CrossbarSpec()
    arr = crossbar.program(KEY, jnp.ones((n_in, n_out)), spec)
    if wrong != n_in:
        with pytest.raises(ValueError, match=rf"shape \(2, {wrong}\): expected \(\.\.\., {n_in}\)"):
            crossbar.mvm(KEY, arr, jnp.ones((2, wrong)), spec)
    with pytest.raises(ValueError, match=rf"shape \({n_in},\): expected \(n_in, n_out\)"):
        crossbar.program(KEY, jnp.ones((n_in,)), spec)
