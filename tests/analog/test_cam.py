"""Tests for analog.cam: ideal limit = exact digital search, the device model's noise
statistics, the sense ADC's levels, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import cam, device
from analog.cam import DONT_CARE, CAMArray, CAMSpec
from analog.converters import ADC
from analog.device import G_HRS, G_LRS, RRAM

ROWS, WIDTH, BATCH = 12, 15, 9  # one shape everywhere
DG = G_LRS - G_HRS


def _ternary_words(rng, rows=ROWS, width=WIDTH, p_x=0.25):
    words = rng.integers(0, 2, (rows, width))
    words[rng.random((rows, width)) < p_x] = DONT_CARE
    return words


def _hamming_ref(words, queries):
    care = words != DONT_CARE
    return ((words[None] != queries[:, None]) & care[None]).sum(-1)


def _cells(**noise):
    """The default HRS / LRS window with the given non-idealities."""
    return RRAM(g_min=G_HRS, g_max=G_LRS, **noise)


def _program_and_search_once(key, words, queries, spec, care=None):
    k_prog, k_read = jax.random.split(key)
    return cam.search(k_read, cam.program(k_prog, words, spec, care=care), queries, spec)


# A static spec compiles only the draws it needs (concrete zeros skip theirs): each
# ideal spec compiles in a fraction of a second. ``_chips`` traces the spec instead.
_program_and_search = jax.jit(_program_and_search_once, static_argnames="spec")


_program = jax.jit(cam.program)  # eager calls compile every primitive: slower on CPU
_read = jax.jit(cam.search)


def _search(spec, words, queries, seed=0, care=None):
    care = np.ones(np.shape(words), bool) if care is None else care
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731  (same dtypes: no recompiles)
    return _program_and_search(jax.random.key(seed), f32(words), f32(queries), spec=spec, care=care)


# ------------------------------------------------------------ specs and presets
def test_default_spec_is_ideal_and_ideal_keeps_the_cell_window():
    assert CAMSpec() == CAMSpec().ideal()
    assert (CAMSpec().device.g_min, CAMSpec().device.g_max) == (G_HRS, G_LRS)
    assert CAMSpec().adc is None and CAMSpec().sense_sigma == 0.0
    noisy = CAMSpec(metric="dot", device=RRAM(g_min=1e-6, g_max=80e-6, levels=3, read_sigma_rel=0.01,
                                              prog_poly=(0.0, 0.05), stuck_low_prob=0.01),
                    adc=ADC(bits=6, fullscale=4.0), sense_sigma=1e-9, v_search=0.1,
                    value_range=(-2.0, 2.0))
    ideal = noisy.ideal()
    assert ideal != noisy
    assert (ideal.metric, ideal.v_search, ideal.value_range) == ("dot", 0.1, (-2.0, 2.0))
    assert ideal.device == RRAM(g_min=1e-6, g_max=80e-6) and ideal.device == noisy.device.ideal()
    assert ideal.adc is None and ideal.sense_sigma == 0.0
    assert ideal.ideal() == ideal


def test_tcam_40nm_preset_is_the_binary_device_with_a_width_adc():
    spec = CAMSpec.tcam_40nm(64)
    binary = RRAM.binary_lrs_hrs()
    assert (spec.device.g_min, spec.device.g_max) == (binary.g_min, binary.g_max)
    assert spec.device.read_sigma_rel == binary.read_sigma_rel == 0.02
    assert spec.device.prog_poly == (0.0, 0.05) and spec.device.prog_sigma == 0.0
    assert spec.device.levels == 2 and CAMSpec.tcam_40nm(64, metric="l1").device.levels is None
    assert spec.adc == ADC(bits=8, fullscale=64.0)
    assert CAMSpec.tcam_40nm(64, adc_bits=None).adc is None
    assert CAMSpec.tcam_40nm() == spec  # the registry builds it without a width: 64 [assumed]
    assert spec.ideal() == CAMSpec()


# ---------------------------------------------------------------- ideal limit
@pytest.mark.parametrize("window", [(G_HRS, G_LRS), (1e-6, 60e-6), (7e-6, 60e-6)])
def test_ideal_hamming_is_exact_integer_reference_with_ties(window):
    # (1, 60) and (7, 60) uS decode an LRS cell as 0.99999994 if XLA divides by a reciprocal
    spec = CAMSpec(device=RRAM(g_min=window[0], g_max=window[1]))
    rng = np.random.default_rng(0)
    words = _ternary_words(rng)
    words[7] = words[2]  # duplicate rows force ties: the lower index must win
    words[9] = words[2]
    queries = rng.integers(0, 2, (BATCH, WIDTH))
    queries[0] = np.where(words[2] == DONT_CARE, 1, words[2])  # exact hit on a tied row
    dist, best = _search(spec, words, queries)
    ref = _hamming_ref(words, queries)
    np.testing.assert_array_equal(np.asarray(dist), ref.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(best), np.argmin(ref, axis=1))
    assert int(best[0]) == 2


@pytest.mark.parametrize("metric", cam.METRICS)
def test_ideal_preset_is_the_exact_digital_search_with_ties_to_the_lowest_row(metric):
    rng = np.random.default_rng(11)
    if metric == "hamming":
        words, queries = _ternary_words(rng), rng.integers(0, 2, (BATCH, WIDTH))
    else:
        words = rng.uniform(-1, 1, (ROWS, WIDTH))
        queries = rng.uniform(-1, 1, (BATCH, WIDTH))
    words[[4, 8]] = words[1]  # rows 1, 4, 8 tie on every query
    queries[:3] = np.where(words[1] == DONT_CARE, 0, words[1])  # ... and are the best for these
    if metric == "dot":
        queries[:3] = np.sign(words[1])
    scores, best = _search(CAMSpec.tcam_40nm(WIDTH, metric=metric).ideal(), words, queries)
    w, q = words.astype(np.float64), queries.astype(np.float64)
    ref = {"hamming": _hamming_ref(words, queries).astype(np.float64),
           "l1": np.abs(q[:, None] - w[None]).sum(-1), "dot": q @ w.T}[metric]
    np.testing.assert_allclose(np.asarray(scores), ref, rtol=1e-5, atol=1e-5)
    if metric == "hamming":
        np.testing.assert_array_equal(np.asarray(scores), ref)
    pick = np.argmax if metric == "dot" else np.argmin
    np.testing.assert_array_equal(np.asarray(best), pick(ref, 1))
    np.testing.assert_array_equal(np.asarray(best[:3]), 1)
    s = np.asarray(scores)
    np.testing.assert_array_equal(s[:, 1], s[:, 4])  # ties are exact, not near
    np.testing.assert_array_equal(s[:, 1], s[:, 8])


def test_ideal_returns_true_nearest_binary_word():
    rng = np.random.default_rng(1)
    words = rng.integers(0, 2, (ROWS, WIDTH))
    rows = rng.integers(0, ROWS, BATCH)
    queries = words[rows].copy()
    flips = rng.random((BATCH, WIDTH)) < 0.1
    queries[flips] ^= 1
    _, best = _search(CAMSpec(), words, queries)
    np.testing.assert_array_equal(np.asarray(best), np.argmin(_hamming_ref(words, queries), 1))


def test_dont_care_cells_never_contribute():
    rng = np.random.default_rng(2)
    words = _ternary_words(rng, p_x=0.5)
    words[0] = DONT_CARE  # an all-X row matches everything
    queries = rng.integers(0, 2, (BATCH, WIDTH))
    other = queries.copy()
    other[:, words[3] == DONT_CARE] ^= 1  # flipping bits under row 3's X cells
    spec = CAMSpec()
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
    l1, best = _search(CAMSpec(metric="l1"), words, queries, care=care)
    ref = (np.abs(queries[:, None] - words[None]) * care).sum(-1)
    np.testing.assert_allclose(np.asarray(l1), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(best), np.argmin(ref, 1))
    sim, best = _search(CAMSpec(metric="dot"), words, queries)
    np.testing.assert_allclose(np.asarray(sim), queries @ words.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(best), np.argmax(queries @ words.T, 1))


def test_ternary_dot_semantic_vectors_and_asymmetric_l1_range():
    rng = np.random.default_rng(4)
    words = rng.integers(-1, 2, (ROWS, WIDTH))
    queries = rng.integers(-1, 2, (BATCH, WIDTH))
    sim, _ = _search(CAMSpec(metric="dot"), words, queries)
    np.testing.assert_allclose(np.asarray(sim), queries @ words.T, atol=1e-5)
    spec = CAMSpec(metric="l1", value_range=(2.0, 6.0))
    words, queries = rng.uniform(2, 6, (ROWS, WIDTH)), rng.uniform(2, 6, (BATCH, WIDTH))
    l1, _ = _search(spec, words, queries)
    np.testing.assert_allclose(np.asarray(l1), np.abs(queries[:, None] - words[None]).sum(-1),
                               rtol=1e-5)


def test_match_line_current_in_amperes():
    rng = np.random.default_rng(5)
    words, queries = _ternary_words(rng), rng.integers(0, 2, (BATCH, WIDTH))
    spec = CAMSpec(v_search=0.15, device=RRAM(g_min=1e-6, g_max=50e-6))
    g_lrs, g_hrs = spec.device.g_max, spec.device.g_min
    arr = CAMArray(g=jnp.stack([jnp.where(words == 1, g_lrs, g_hrs),
                                jnp.where(words == 0, g_lrs, g_hrs)], -1),
                   care=jnp.asarray(words != DONT_CARE))
    d = _hamming_ref(words, queries)
    ref = spec.v_search * (d * g_lrs + (WIDTH - d) * g_hrs)
    current = jax.jit(cam.match_line_current)(arr, jnp.asarray(queries, jnp.float32), spec)
    np.testing.assert_allclose(np.asarray(current), ref, rtol=1e-5)


# ------------------------------------------------------------------ sense ADC
def _levels(x, bits, lo, hi):
    """Independent numpy reference of an ADC: clip, then round to 2**bits levels."""
    step = (hi - lo) / (2**bits - 1)
    return lo + np.round((np.clip(x, lo, hi) - lo) / step) * step


def test_adc_quantizes_scores_to_the_levels_of_the_adc_spec():
    rng = np.random.default_rng(6)
    words, queries = _ternary_words(rng), rng.integers(0, 2, (BATCH, WIDTH))
    d = _hamming_ref(words, queries)
    spec = CAMSpec(adc=ADC(bits=3, fullscale=float(WIDTH)))  # unipolar [0, width]: LSB 15 / 7
    dist, _ = _search(spec, words, queries)
    np.testing.assert_allclose(np.asarray(dist), _levels(d, 3, 0.0, WIDTH), rtol=1e-6)
    k = np.asarray(dist) / (WIDTH / 7)
    np.testing.assert_allclose(k, np.round(k), atol=1e-5)
    assert len(np.unique(np.round(k))) > 2
    # l1 over [0, fullscale] cells, scaled by hi - lo; dot over [-fullscale, fullscale], by m**2
    w, q = rng.uniform(0, 2, (ROWS, WIDTH)), rng.uniform(0, 2, (BATCH, WIDTH))
    l1, _ = _search(CAMSpec(metric="l1", value_range=(0.0, 2.0), adc=ADC(bits=4, fullscale=5.0)), w, q)
    ref = 2.0 * _levels(np.abs(q[:, None] - w[None]).sum(-1) / 2.0, 4, 0.0, 5.0)
    np.testing.assert_allclose(np.asarray(l1), ref, rtol=1e-5, atol=1e-5)
    w, q = rng.uniform(-2, 2, (ROWS, WIDTH)), rng.uniform(-2, 2, (BATCH, WIDTH))
    sim, _ = _search(CAMSpec(metric="dot", value_range=(-2.0, 2.0), adc=ADC(bits=4, fullscale=1.5)), w, q)
    ref = 4.0 * _levels(q @ w.T / 4.0, 4, -1.5, 1.5)
    np.testing.assert_allclose(np.asarray(sim), ref, rtol=1e-5, atol=1e-5)
    assert np.asarray(sim).min() == pytest.approx(-6.0) and np.asarray(sim).max() == pytest.approx(6.0)


def test_adc_grid_holds_under_sense_noise():
    rng = np.random.default_rng(6)
    words, queries = _ternary_words(rng), rng.integers(0, 2, (BATCH, WIDTH))
    adc = ADC(bits=4, fullscale=float(WIDTH))  # 2**4 - 1 = WIDTH: LSB = 1 bit
    d, _ = _search(CAMSpec(adc=adc), words, queries)
    np.testing.assert_array_equal(np.asarray(d), _hamming_ref(words, queries))
    sense = 1.4 * CAMSpec().v_search * DG  # 1.4 LSB of sense-amplifier noise (A)
    noisy, _ = _search(CAMSpec(adc=adc, sense_sigma=sense), words, queries)
    noisy = np.asarray(noisy)
    np.testing.assert_array_equal(noisy, np.round(noisy))
    assert 0 <= noisy.min() and noisy.max() <= WIDTH and np.any(noisy != np.asarray(d))


# ------------------------------------------------------ noise: the device model
def test_programming_statistics_are_the_device_models():
    rng = np.random.default_rng(12)
    words = rng.integers(0, 2, (400, 256))  # 102400 cells: one LRS and one HRS device each
    cell = CAMSpec.tcam_40nm(256).device.replace(prog_sigma=0.3e-6)
    arr = _program(jax.random.key(3), words, CAMSpec(device=cell))
    g = np.asarray(arr.g, np.float64)
    lrs = np.concatenate([g[..., 0][words == 1], g[..., 1][words == 0]])
    hrs = np.concatenate([g[..., 0][words == 0], g[..., 1][words == 1]])
    for state, target in ((lrs, G_LRS), (hrs, G_HRS)):
        n = state.size
        sigma = float(device.program_sigma(jnp.asarray(target), cell))
        assert n == words.size
        assert abs(state.mean() - target) < 5 * sigma / np.sqrt(n)
        assert abs(state.std() - sigma) < 5 * sigma / np.sqrt(2 * n)
    # stuck-at faults of the cell population come with it
    faulty = cell.replace(stuck_low_prob=0.02, stuck_high_prob=0.01)
    g = np.asarray(_program(jax.random.key(4), words, CAMSpec(device=faulty)).g)
    low = np.concatenate([g[..., 0][words == 1], g[..., 1][words == 0]]) == np.float32(G_HRS)
    high = np.concatenate([g[..., 0][words == 0], g[..., 1][words == 1]]) == np.float32(G_LRS)
    for hits, p in ((low, 0.02), (high, 0.01)):
        assert abs(hits.mean() - p) < 5 * np.sqrt(p * (1 - p) / hits.size)


def _read_sigma_np(g, cell):
    return np.sqrt(cell.read_sigma**2 + (cell.read_sigma_rel * g) ** 2)


def _driven_std(metric, arr, q, spec):
    """sqrt(sum over driven cells of (drive fraction x read_sigma)^2 + sense^2) / dg, in score units."""
    g, care, cell = np.asarray(arr.g, np.float64), np.asarray(arr.care), spec.device
    lo, hi = spec.value_range
    m = max(abs(lo), abs(hi))
    if metric == "hamming":
        var = ((1 - q) ** 2 * _read_sigma_np(g[..., 0], cell) ** 2
               + q**2 * _read_sigma_np(g[..., 1], cell) ** 2).sum(-1)
        scale = 1.0
    elif metric == "dot":
        var = ((q / m) ** 2 * (_read_sigma_np(g[..., 0], cell) ** 2
                               + _read_sigma_np(g[..., 1], cell) ** 2)).sum(-1)
        scale = m * m
    else:
        n = (g - G_HRS) / DG
        u_hat = 0.5 * (1 + n[..., 0] - n[..., 1])
        g_cell = G_HRS + DG * care * np.abs((q - lo) / (hi - lo) - u_hat)
        var = (_read_sigma_np(g_cell, cell) ** 2).sum(-1)
        scale = hi - lo
    var = var / DG**2 + (spec.sense_sigma / (spec.v_search * DG)) ** 2
    return scale * np.sqrt(var)


@pytest.mark.parametrize("metric, value_range", [("hamming", (-1.0, 1.0)), ("l1", (0.0, 2.0)),
                                                 ("dot", (-2.0, 2.0))])
def test_match_line_read_noise_is_the_sum_over_driven_cells(metric, value_range):
    rng = np.random.default_rng(13)
    lo, hi = value_range
    if metric == "hamming":
        words, query = _ternary_words(rng), rng.integers(0, 2, (1, WIDTH)).astype(float)
    else:
        words, query = rng.uniform(lo, hi, (ROWS, WIDTH)), rng.uniform(lo, hi, (1, WIDTH))
    care = rng.random((ROWS, WIDTH)) < 0.5  # masked cells still leak (and add their noise)
    cell = _cells(prog_poly=(0.0, 0.05), read_sigma=1e-6, read_sigma_rel=0.05)
    spec = CAMSpec(metric=metric, device=cell, sense_sigma=0.03 * 0.2 * DG, value_range=value_range)
    arr = _program(jax.random.key(5), words, spec, care)
    ideal_read = spec.replace(device=cell.replace(read_sigma=0.0, read_sigma_rel=0.0), sense_sigma=0.0)
    reads = jax.jit(jax.vmap(lambda k, s: cam.search(k, arr, query, s)[0][0], (0, None)))
    clean = np.asarray(reads(jax.random.key(0)[None], ideal_read)[0])
    n = 2000
    reads = reads(jax.random.split(jax.random.key(6), n), spec)
    reads = np.asarray(reads, np.float64)
    ref = _driven_std(metric, arr, query[0], spec)
    assert np.all(np.abs(reads.mean(0) - clean) < 5 * ref / np.sqrt(n))
    assert np.all(np.abs(reads.std(0) / ref - 1) < 5 / np.sqrt(2 * n)), (reads.std(0), ref)


@jax.jit
def _chips(keys, words, queries, spec):
    """Scores of the same search on len(keys) simulated chips: one vmap."""
    care = jnp.ones(words.shape, bool)
    return jax.vmap(lambda k: _program_and_search_once(k, words, queries, spec, care))(keys)


def _monte_carlo(spec, words, queries, n_chips=1000):
    keys = jax.random.split(jax.random.key(7), n_chips)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    scores, best = _chips(keys, f32(words), f32(queries), spec)
    return np.asarray(scores), np.asarray(best)


def test_noisy_hamming_mean_and_std_match_analytic_over_1000_chips():
    rng = np.random.default_rng(8)
    words, queries = _ternary_words(rng), rng.integers(0, 2, (BATCH, WIDTH))
    d = _hamming_ref(words, queries)
    stds = []
    for scale in (1.0, 2.0):
        p, r = 0.05 * scale, 0.05 * scale
        spec = CAMSpec(device=_cells(prog_poly=(0.0, p), read_sigma_rel=r))
        out = _monte_carlo(spec, words, queries)[0]
        assert out.shape == (1000, BATCH, ROWS) and np.all(np.isfinite(out))
        # driven devices: d at LRS, width - d at HRS; read noise on the programmed g
        var_prog = d * (p * G_LRS) ** 2 + (WIDTH - d) * (p * G_HRS) ** 2
        var_read = r**2 * (1 + p**2) * (d * G_LRS**2 + (WIDTH - d) * G_HRS**2)
        var = (var_prog + var_read) / DG**2
        std = out.std(0)
        assert np.all(np.abs(out.mean(0) - d) < 5 * np.sqrt(var / 1000))
        np.testing.assert_allclose(std, np.sqrt(var), rtol=0.12)
        stds.append(std)
    assert np.all(stds[1] > 1.5 * stds[0])


def _margin_words(rng, pairs=8, width=32, dist=4, margin=1):
    """Rows (2i, 2i+1) and query i: row 2i+1 at ``dist`` bits, row 2i at ``dist + margin``."""
    words, queries = [], []
    for _ in range(pairs):
        best = rng.integers(0, 2, width)
        pos = rng.permutation(width)
        near, far = pos[:dist], pos[dist:2 * dist + margin]
        query = best.copy()
        query[near] ^= 1
        rival = query.copy()
        rival[far] ^= 1
        words += [rival, best]
        queries.append(query)
    return np.array(words), np.array(queries)


def test_tcam_preset_misses_rarely_at_a_one_bit_margin():
    words, queries = _margin_words(np.random.default_rng(9))
    ref = _hamming_ref(words, queries)
    nearest = 2 * np.arange(len(queries)) + 1
    np.testing.assert_array_equal(np.argmin(ref, 1), nearest)
    assert np.all(np.sort(ref, 1)[:, 1] - ref.min(1) == 1)  # the stated margin: 1 bit
    width = words.shape[1]
    miss = {}
    for prog in (0.05, 0.5):  # the preset, and ten times its write noise
        spec = CAMSpec.tcam_40nm(width, prog_sigma_rel=prog)
        _, best = _monte_carlo(spec, words, queries, n_chips=512)
        miss[prog] = np.mean(best != nearest)  # a tie goes to the rival (lower row): a miss
    assert miss[0.05] <= 1e-3  # at most 4 misses in 4096 searches
    assert miss[0.5] > 0.05  # the check can fail: a noisier cell does miss


def test_same_key_same_chip_and_read_noise_is_fresh():
    rng = np.random.default_rng(10)
    words, queries = _ternary_words(rng), rng.integers(0, 2, (BATCH, WIDTH))
    chip = CAMSpec(device=_cells(prog_poly=(0.0, 0.05)))  # programming noise only: the key is the chip
    same = [np.asarray(_search(chip, words, queries, seed=s)[0]) for s in (1, 1, 2)]
    np.testing.assert_array_equal(same[0], same[1])
    assert not np.allclose(same[0], same[2])
    for read in (CAMSpec(device=_cells(read_sigma_rel=0.02)), CAMSpec(sense_sigma=1e-7)):
        arr = _program(jax.random.key(1), words, read)
        other = _program(jax.random.key(2), words, read)  # no programming noise: the same chip
        np.testing.assert_array_equal(np.asarray(arr.g), np.asarray(other.g))
        r1, r1b, r2 = (np.asarray(_read(jax.random.key(s), arr, queries, read)[0]) for s in (1, 1, 2))
        np.testing.assert_array_equal(r1, r1b)
        assert not np.allclose(r1, r2)  # read noise only: every search differs


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("field, value", [
    ("metric", "cosine"), ("device", "rram"), ("device", ADC()), ("adc", 8), ("adc", RRAM()),
    ("sense_sigma", -1e-9), ("sense_sigma", float("nan")), ("v_search", 0.0),
    ("value_range", (1.0, 0.0)), ("value_range", (0.0, float("inf"))),
])
def test_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"CAMSpec\.{field} = "):
        CAMSpec(**{field: value})


def test_converter_and_preset_arguments_are_validated_once():
    with pytest.raises(ValueError, match=r"ADC\.bits"):
        CAMSpec(adc=ADC(bits=0))
    with pytest.raises(ValueError, match=r"ADC\.fullscale"):
        CAMSpec(adc=ADC(fullscale=0.0))
    with pytest.raises(ValueError, match=r"RRAM\.g_max"):
        CAMSpec(device=RRAM(g_min=G_LRS, g_max=G_HRS))
    with pytest.raises(ValueError, match="width"):
        CAMSpec.tcam_40nm(0)
    with pytest.raises(ValueError, match="prog_sigma_rel"):
        CAMSpec.tcam_40nm(16, prog_sigma_rel=-0.05)
    with pytest.raises(ValueError, match=r"RRAM\.read_sigma_rel"):
        CAMSpec.tcam_40nm(16, read_sigma_rel=-0.02)
    with pytest.raises(ValueError, match=r"CAMSpec\.metric"):
        CAMSpec.tcam_40nm(16, metric="cosine")
    with pytest.raises(ValueError, match=r"ADC\.bits"):
        CAMSpec.tcam_40nm(16, adc_bits=0)


def test_bad_inputs_are_rejected_at_the_boundary():
    spec = CAMSpec()
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


def test_for_width_sets_the_sense_full_scale_to_the_word():
    spec = CAMSpec.tcam_40nm()
    assert spec.adc.fullscale == 64.0 and spec.for_width(24).adc.fullscale == 24.0
    assert CAMSpec().for_width(24) == CAMSpec()  # no ADC: nothing to scale
    with pytest.raises(ValueError, match="width"):
        spec.for_width(0)
