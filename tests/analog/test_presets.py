"""The preset registry: every preset builds, validates, and its ideal() is the digital result."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from analog import cam, crossbar, forming, presets
from analog.cam import CAMSpec
from analog.crossbar import CrossbarSpec
from analog.integrator import IntegratorSpec, integrate

KEY = jax.random.PRNGKey(0)


def test_registry_names_roles_and_errors():
    assert set(presets.PRESETS) >= {"taox_40nm_random", "rram_20_80", "ternary_lrs_hrs", "pcm_aihwkit",
                                    "tcam_40nm", "opamp_rc", "ideal"}
    for role in presets.ROLES:
        assert presets.names(role), role  # every role has a preset
    assert presets.names("random") == ["taox_40nm_random", "prime_40nm_random"]
    with pytest.raises(ValueError, match="unknown preset 'rram_2080'"):
        presets.get("rram_2080")
    with pytest.raises(ValueError, match="cannot be a 'random' device"):
        presets.spec("rram_20_80", role="random")
    with pytest.raises(ValueError, match="role"):
        presets.spec("rram_20_80", role="weights")
    assert len(presets.describe().splitlines()) == len(presets.PRESETS)


@pytest.mark.parametrize("name", presets.PRESETS)
def test_every_preset_builds_validates_and_its_ideal_is_digital(name):
    preset = presets.get(name)
    assert preset.source and preset.description and set(preset.roles) <= set(presets.ROLES)
    spec = preset.spec
    ideal = preset.ideal().spec
    assert ideal == ideal.ideal()  # ideal() is idempotent and switches everything off
    if name != "ideal":
        assert spec != ideal  # the preset is a real, non-ideal chip
    x = jax.random.normal(KEY, (4, 70))
    if isinstance(spec, CrossbarSpec) and "random" in preset.roles:
        pair = forming.random_pair(KEY, (70, 9), spec.device)
        arr = crossbar.from_conductances(pair.g_pos, pair.g_neg, ideal, 1e4)
        np.testing.assert_allclose(crossbar.mvm(KEY, arr, x, ideal), x @ ((pair.g_pos - pair.g_neg) * 1e4),
                                   rtol=1e-5, atol=1e-5)
    elif isinstance(spec, CrossbarSpec):
        w = jax.random.normal(KEY, (70, 9))
        y = crossbar.mvm(KEY, crossbar.program(KEY, w, ideal), x, ideal)
        np.testing.assert_allclose(y, x @ w, rtol=1e-5, atol=1e-4)
    elif isinstance(spec, CAMSpec):
        stored = jax.random.bernoulli(KEY, 0.5, (16, 64)).astype(jnp.int32)
        queries = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (8, 64)).astype(jnp.int32)
        scores, _ = cam.search(KEY, cam.program(KEY, stored, ideal), queries, ideal)
        np.testing.assert_array_equal(scores, np.sum(np.asarray(queries)[:, None] != np.asarray(stored)[None], -1))
    elif isinstance(spec, IntegratorSpec):
        a = jnp.array([[-1.0, 2.0], [-2.0, -1.0]])
        ts = jnp.linspace(0.0, 5 * ideal.tau, 6)
        xs = integrate(KEY, lambda k, x, t, p: p @ x, jnp.array([1.0, 0.0]), ts, ideal.replace(dt=ideal.tau / 50), a)
        exact = np.stack([scipy.linalg.expm(np.asarray(a) * float(t) / ideal.tau) @ [1.0, 0.0] for t in ts])
        np.testing.assert_allclose(xs, exact, atol=1e-5)
    else:
        pytest.fail(f"preset {name!r} has a spec of unknown kind {type(spec).__name__}")


def test_prime_random_source_pairs_differ_by_its_codes_weight_spread():
    import jax
    import numpy as np

    from analog import forming
    from analog.device import PRIME_PAIR_STD

    device = presets.spec("prime_40nm_random", role="random").device
    pair = forming.random_pair(jax.random.PRNGKey(0), (1, 300, 300), device)
    difference = np.asarray(pair.g_pos - pair.g_neg).ravel()
    assert np.all(np.asarray(pair.g_pos) > 0)  # every cell formed
    # std of 90,000 normal samples: within 2 % of 6.352 uS (the standard error is 0.24 %)
    assert abs(difference.std() / PRIME_PAIR_STD - 1) < 0.02 and abs(difference.mean()) < 0.1e-6
