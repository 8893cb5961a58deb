"""Tests for analog.cam: ideal limit = exact digital search, noise statistics, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import cam
from analog.cam import DONT_CARE, CAMArray, CAMSpec

ROWS, WIDTH, BATCH = 12, 15, 9  # one shape everywhere: one compile per metric


def _ternary_words(rng, rows=ROWS, width=WIDTH, p_x=0.25):
    words = rng.integers(0, 2, (rows, width))
    words[rng.random((rows, width)) < p_x] = DONT_CARE
    return words


def _hamming_ref(words, queries):
    care = words != DONT_CARE
    return ((words[None] != queries[:, None]) & care[None]).sum(-1)


@jax.jit
def _program_and_search(key, words, queries, spec, care=None):
    k_prog, k_read = jax.random.split(key)
    return cam.search(k_read, cam.program(k_prog, words, spec, care=care), queries, spec)


def _search(spec, words, queries, seed=0, care=None):
    care = np.ones(np.shape(words), bool) if care is None else care
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731  (same dtypes: no recompiles)
    return _program_and_search(jax.random.key(seed), f32(words), f32(queries), spec, care)


def test_classmethod_and_instance_ideal():
    assert CAMSpec.ideal() == CAMSpec().ideal()
    dot = CAMSpec(metric="dot", g_lrs=80e-6, read_sigma=1e-9).ideal()
    assert (dot.metric, dot.g_lrs, dot.read_sigma, dot.prog_sigma_rel) == ("dot", 80e-6, 0.0, 0.0)


def test_ideal_hamming_is_exact_integer_reference_with_ties():
    rng = np.random.default_rng(0)
    words = _ternary_words(rng)
    words[7] = words[2]  # duplicate rows force ties: the lower index must win
    words[9] = words[2]
    queries = rng.integers(0, 2, (BATCH, WIDTH))
    queries[0] = np.where(words[2] == DONT_CARE, 1, words[2])  # exact hit on a tied row
    dist, best = _search(CAMSpec.ideal(), words, queries)
    ref = _hamming_ref(words, queries)
    np.testing.assert_array_equal(np.asarray(dist), ref.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(best), np.argmin(ref, axis=1))
    assert int(best[0]) == 2


def test_ideal_returns_true_nearest_binary_word():
    rng = np.random.default_rng(1)
    words = rng.integers(0, 2, (ROWS, WIDTH))
    rows = rng.integers(0, ROWS, BATCH)
    queries = words[rows].copy()
    flips = rng.random((BATCH, WIDTH)) < 0.1
    queries[flips] ^= 1
    _, best = _search(CAMSpec().ideal(), words, queries)
    np.testing.assert_array_equal(np.asarray(best), np.argmin(_hamming_ref(words, queries), 1))


def test_dont_care_cells_never_contribute():
    rng = np.random.default_rng(2)
    words = _ternary_words(rng, p_x=0.5)
    words[0] = DONT_CARE  # an all-X row matches everything
    queries = rng.integers(0, 2, (BATCH, WIDTH))
    other = queries.copy()
    other[:, words[3] == DONT_CARE] ^= 1  # flipping bits under row 3's X cells
    spec = CAMSpec.ideal()
    d1, _ = _search(spec, words, queries)
    d2, _ = _search(spec, words, other)
    np.testing.assert_array_equal(np.asarray(d1[:, 0]), 0.0)
    np.testing.assert_array_equal(np.asarray(d1[:, 3]), np.asarray(d2[:, 3]))
    # a care mask on top of the stored word also removes cells from the count
    mask = rng.random((ROWS, WIDTH)) < 0.5
    d3, _ = _search(spec, words, queries, care=mask)
    np.testing.assert_array_equal(np.asarray(d3), _hamming_ref(np.where(mask, words, DONT_CARE), queries))


def test_ideal_l1_and_dot_match_numpy():
    rng = np.random.default_rng(3)
    words = rng.uniform(-1, 1, (ROWS, WIDTH)).astype(np.float32)
    queries = rng.uniform(-1, 1, (BATCH, WIDTH)).astype(np.float32)
    care = rng.random((ROWS, WIDTH)) < 0.8
    l1, best = _search(CAMSpec(metric="l1").ideal(), words, queries, care=care)
    ref = (np.abs(queries[:, None] - words[None]) * care).sum(-1)
    np.testing.assert_allclose(np.asarray(l1), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(best), np.argmin(ref, 1))
    sim, best = _search(CAMSpec(metric="dot").ideal(), words, queries)
    np.testing.assert_allclose(np.asarray(sim), queries @ words.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(best), np.argmax(queries @ words.T, 1))


def test_ternary_dot_semantic_vectors_and_asymmetric_l1_range():
    rng = np.random.default_rng(4)
    words = rng.integers(-1, 2, (ROWS, WIDTH))
    queries = rng.integers(-1, 2, (BATCH, WIDTH))
    sim, _ = _search(CAMSpec(metric="dot").ideal(), words, queries)
    np.testing.assert_allclose(np.asarray(sim), queries @ words.T, atol=1e-5)
    spec = CAMSpec(metric="l1", value_range=(2.0, 6.0)).ideal()
    words, queries = rng.uniform(2, 6, (ROWS, WIDTH)), rng.uniform(2, 6, (BATCH, WIDTH))
    l1, _ = _search(spec, words, queries)
    np.testing.assert_allclose(np.asarray(l1), np.abs(queries[:, None] - words[None]).sum(-1),
                               rtol=1e-5)


def test_match_line_current_in_amperes():
    rng = np.random.default_rng(5)
    words, queries = _ternary_words(rng), rng.integers(0, 2, (BATCH, WIDTH))
    spec = CAMSpec.ideal()
    arr = CAMArray(g=jnp.stack([jnp.where(words == 1, spec.g_lrs, spec.g_hrs),
                                jnp.where(words == 0, spec.g_lrs, spec.g_hrs)], -1),
                   care=jnp.asarray(words != DONT_CARE))
    d = _hamming_ref(words, queries)
    ref = spec.v_search * (d * spec.g_lrs + (WIDTH - d) * spec.g_hrs)
    current = jax.jit(cam.match_line_current)(arr, jnp.asarray(queries, jnp.float32), spec)
    np.testing.assert_allclose(np.asarray(current), ref, rtol=1e-5)


def test_adc_grid():
    rng = np.random.default_rng(6)
    words, queries = _ternary_words(rng), rng.integers(0, 2, (BATCH, WIDTH))
    d, _ = _search(CAMSpec.ideal().replace(adc_bits=4), words, queries)  # 2**4 - 1 = WIDTH
    np.testing.assert_array_equal(np.asarray(d), _hamming_ref(words, queries))  # LSB = 1 bit
    noisy, _ = _search(CAMSpec(adc_bits=4, read_sigma_rel=0.02), words, queries)
    noisy = np.asarray(noisy)  # read noise of ~1.4 bits, still on the ADC grid
    np.testing.assert_array_equal(noisy, np.round(noisy))
    assert 0 <= noisy.min() and noisy.max() <= WIDTH and np.any(noisy != np.asarray(d))


@jax.jit
def _chips(keys, words, queries, spec):
    """Scores of the same search on len(keys) simulated chips: one vmap."""
    care = jnp.ones(words.shape, bool)
    return jax.vmap(lambda k: _program_and_search(k, words, queries, spec, care)[0])(keys)


def _monte_carlo(spec, words, queries, n_chips=1000):
    keys = jax.random.split(jax.random.key(7), n_chips)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return np.asarray(_chips(keys, f32(words), f32(queries), spec))


def test_noisy_hamming_mean_and_std_match_analytic_over_1000_chips():
    rng = np.random.default_rng(8)
    words, queries = _ternary_words(rng), rng.integers(0, 2, (BATCH, WIDTH))
    d = _hamming_ref(words, queries)
    stds = []
    for scale in (1.0, 2.0):
        spec = CAMSpec(prog_sigma_rel=0.05 * scale, read_sigma_rel=0.01 * scale)
        out = _monte_carlo(spec, words, queries)
        assert out.shape == (1000, BATCH, ROWS) and np.all(np.isfinite(out))
        dg = spec.g_lrs - spec.g_hrs
        var = (d * (spec.prog_sigma_rel * spec.g_lrs) ** 2
               + (WIDTH - d) * (spec.prog_sigma_rel * spec.g_hrs) ** 2) / dg**2
        var += (spec.read_sigma_rel * WIDTH * spec.g_lrs / dg) ** 2
        std = out.std(0)
        assert np.all(np.abs(out.mean(0) - d) < 5 * np.sqrt(var / 1000))
        np.testing.assert_allclose(std, np.sqrt(var), rtol=0.12)
        stds.append(std)
    assert np.all(stds[1] > 1.5 * stds[0])


def test_same_key_same_chip_and_read_noise_is_fresh():
    rng = np.random.default_rng(10)
    words, queries = _ternary_words(rng), rng.integers(0, 2, (BATCH, WIDTH))
    chip = CAMSpec(read_sigma_rel=0.0)  # programming noise only: the key is the chip
    same = [np.asarray(_search(chip, words, queries, seed=s)[0]) for s in (1, 1, 2)]
    np.testing.assert_array_equal(same[0], same[1])
    assert not np.allclose(same[0], same[2])
    read = CAMSpec(prog_sigma_rel=0.0)  # read noise only: every search differs
    r1, r2 = (np.asarray(_search(read, words, queries, seed=s)[0]) for s in (1, 2))
    assert not np.allclose(r1, r2)


@pytest.mark.parametrize("field, value", [
    ("metric", "cosine"), ("g_lrs", 1e-6), ("g_hrs", -1e-6), ("prog_sigma", -1.0),
    ("prog_sigma_rel", float("nan")), ("read_sigma", -1e-9), ("read_sigma_rel", -0.1),
    ("v_search", 0.0), ("adc_bits", 0), ("adc_bits", 2.5), ("value_range", (1.0, 0.0)),
])
def test_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        CAMSpec(**{field: value})


def test_bad_inputs_are_rejected_at_the_boundary():
    spec = CAMSpec.ideal()
    with pytest.raises(ValueError, match="stored"):
        cam.program(jax.random.key(0), np.array([[0, 2]]), spec)
    arr = CAMArray(g=jnp.full((1, 2, 2), 1e-6), care=jnp.ones((1, 2), bool))
    with pytest.raises(ValueError, match="queries"):
        cam.search(jax.random.key(0), arr, np.array([[0, 1, 1]]), spec)
    with pytest.raises(ValueError, match="queries"):
        cam.search(jax.random.key(0), arr, np.array([[0, -1]]), spec)
    with pytest.raises(ValueError, match="stored"):
        cam.program(jax.random.key(0), np.array([[0.5, 3.0]]), CAMSpec(metric="l1"))


def test_op_counts():
    assert cam.op_counts(5, 12, 64) == {"cam_searches": 5.0, "cam_cells": 5.0 * 12 * 64}
