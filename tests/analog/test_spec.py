import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from analog import ADC, CrossbarSpec, RRAM


def test_specs_rebuild_from_placeholders_and_tracers_without_validation():
    spec = CrossbarSpec(device=RRAM(prog_sigma=1e-6), adc=ADC(bits=6))
    assert jax.tree_util.tree_map(lambda _: None, spec).adc.bits == 6  # static field kept
    assert float(eqx.filter_jit(lambda s, x: x * s.v_read)(spec, jnp.ones(()))) == pytest.approx(0.2)
    swept = jax.vmap(lambda v: RRAM(prog_sigma=v))(jnp.array([1e-6, 2e-6]))
    assert swept.prog_sigma.shape == (2,)
    with pytest.raises(ValueError, match=r"RRAM\.prog_sigma"):
        RRAM(prog_sigma=-1.0)  # but a user's construction is still checked


def test_static_fields_are_not_leaves():
    leaves = jax.tree_util.tree_leaves(CrossbarSpec(adc=ADC(bits=6)))
    assert 6 not in leaves and 512 not in leaves
