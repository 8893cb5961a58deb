"""Edge compiler: boxes, partitions, duplication MILP, packing rules, pipeline latency."""

import itertools

import numpy as np
import pytest

from analog.compiler import (Box, CompilerSpec, Layer, Network, check_placement, compile,
                             ideal_latency, layer_boxes, layer_durations, network_pieces, pack,
                             partition, pipeline_latency)
from analog.compiler.boxes import Pieces, copy_pieces
from analog.compiler.duplication import duplicate
from analog.cost import MacroCosts

SPEC = CompilerSpec()


def conv(name, cin, cout, k, hw, groups=1):
    return Layer(name=name, kind="conv", in_channels=cin, out_channels=cout, kernel=(k, k),
                 groups=groups, out_size=(hw, hw))


def squeezenet():
    """SqueezeNet 1.1 at 64 x 64, 10 classes, written out by hand."""
    layers, hw, index = [conv("conv1", 3, 64, 3, 31)], 15, 2
    for cfg in [(64, 16, 64), (128, 16, 64), 7, (128, 32, 128), (256, 32, 128), 3,
                (256, 48, 192), (384, 48, 192), (384, 64, 256), (512, 64, 256)]:
        if isinstance(cfg, int):
            hw = cfg
            continue
        cin, s, e = cfg
        layers += [conv(f"fire{index}/squeeze", cin, s, 1, hw), conv(f"fire{index}/e1", s, e, 1, hw),
                   conv(f"fire{index}/e3", s, e, 3, hw)]
        index += 1
    layers.append(conv("classifier", 512, 10, 1, hw))
    return Network(name="squeezenet", layers=tuple(layers), input_shape=(64, 64, 3))


def test_cycle_time_matches_the_cost_model():
    assert SPEC.cycle_s == pytest.approx(152.77e-9, rel=1e-4)
    assert SPEC.cycle_s == pytest.approx(8 * MacroCosts.rram_40nm().cycle_s, rel=1e-4)
    assert SPEC.replace(input_bits=4).cycle_s < SPEC.cycle_s


def test_boxes_of_conv_depthwise_dense_and_grouped():
    assert layer_boxes(conv("c", 16, 32, 3, 8), SPEC) == [Box(144, 32, 64)]
    dw = layer_boxes(conv("dw", 16, 16, 3, 8, groups=16), SPEC)
    # 16 // 5 = 3 channels per chunk: 3,3,3,3,3,1, each channel one input vector per pixel
    assert dw == [Box(9, 3, 192)] * 5 + [Box(9, 1, 64)]
    assert layer_boxes(conv("dw", 16, 16, 3, 8, groups=16), SPEC.replace(depthwise_split=1)) == [Box(9, 16, 1024)]
    dense = Layer(name="fc", kind="dense", in_channels=100, out_channels=10)
    assert layer_boxes(dense, SPEC) == [Box(100, 10, 1)]
    wide = layer_boxes(conv("dw", 700, 700, 3, 2, groups=700), SPEC)   # 700 // 5 = 140 > 128 columns
    assert [b.cols for b in wide] == [128] * 5 + [60] and wide[0] == Box(9, 128, 128 * 4)
    assert sum(b.cycles for b in wide) == 700 * 4
    grouped = conv("g", 8, 4, 1, 5, groups=2)       # 2 groups of 4 -> 2 outputs each
    assert layer_boxes(grouped, SPEC) == [Box(4, 2, 25), Box(4, 2, 25)]


@pytest.mark.parametrize("rows,cols", [(1, 1), (128, 128), (129, 5), (300, 257), (27, 640)])
def test_partition_covers_the_box_exactly(rows, cols):
    box = Box(rows, cols, 7)
    pieces = partition(box, 128, 128)
    assert len(pieces) == -(-rows // 128) * -(-cols // 128)
    assert sum(p.area for p in pieces) == box.area
    assert all(p.rows <= 128 and p.cols <= 128 and p.cycles == 7 for p in pieces)
    grid = np.array([p.rows for p in pieces]).reshape(-1, -(-cols // 128))
    assert grid[:, 0].sum() == rows and (grid == grid[:, :1]).all()
    widths = np.array([p.cols for p in pieces]).reshape(grid.shape)
    assert widths[0].sum() == cols and (widths == widths[:1]).all()


def test_squeezenet_pieces_and_minimum_crossbars_match_the_reference():
    net = squeezenet()
    pieces = network_pieces(net, SPEC)
    assert len(pieces) == 80                     # the reference's count
    mapping = compile(net, None, SPEC)
    assert mapping.n_crossbars <= 47             # the reference packs into 47
    assert check_placement(mapping.pieces, mapping.placement, SPEC) == []


def random_pieces(rng, n, n_layers):
    layer = np.sort(rng.integers(0, n_layers, n))
    rows = rng.choice([16, 27, 64, 100, 128], n)
    cols = rng.choice([10, 16, 48, 64, 128], n)
    return Pieces(layer, np.zeros(n, int), rows, cols, np.ones(n, int))


@pytest.mark.parametrize("rule", ["first_fit", "best_fit", "balanced"])
def test_packing_obeys_geometry_adjacency_and_load(rule):
    rng = np.random.default_rng(0)
    for trial in range(5):
        pieces = random_pieces(rng, 120, 15)
        spec = SPEC.replace(layer_gap=int(trial % 3), max_load=int(2 + trial))
        placement = pack(pieces, spec, None if rule == "first_fit" else 200, rule=rule)
        assert placement is not None
        assert check_placement(pieces, placement, spec) == []
        assert placement.n_crossbars == len(np.unique(placement.crossbar))


def test_check_placement_catches_broken_mappings():
    pieces = Pieces(np.array([0, 1, 3, 5]), np.zeros(4, int), np.array([64, 64, 100, 10]),
                    np.array([64, 64, 100, 10]), np.ones(4, int))
    from analog.compiler.packing import Placement
    bad = Placement(np.array([0, 0, 1, 1]), np.array([0, 10, 50, 0]), np.array([0, 10, 50, 0]), 2)
    problems = check_placement(pieces, bad, SPEC.replace(max_load=1))
    assert any("overlap" in p for p in problems)          # pieces 0 and 1
    assert any("share crossbar 0" in p for p in problems)  # layers 0 and 1 are adjacent
    assert any("leaves its crossbar" in p for p in problems)  # 50 + 100 > 128
    assert any("max_load" in p for p in problems)


def test_packing_reports_a_budget_that_is_too_small():
    pieces = random_pieces(np.random.default_rng(1), 40, 5)
    assert pack(pieces, SPEC, 3) is None
    with pytest.raises(ValueError, match="does not fit in 10 crossbars"):
        compile(squeezenet(), 10, SPEC)


def test_duplication_is_optimal_and_within_budget():
    cycles, areas, counts = np.array([30, 12, 7, 1]), np.array([500, 300, 800, 100]), np.array([1, 1, 2, 1])
    budget, samples = 5000, 4
    copies = duplicate(cycles, areas, counts, budget, 40, 6, samples)
    assert (copies >= 1).all() and copies @ areas <= budget

    def cost(x):
        d = layer_durations(cycles, x)
        return d.sum() + (samples - 1) * max(d.max(), (counts * cycles).sum() / 40)

    feasible = [x for x in itertools.product(range(1, 31), range(1, 13), range(1, 8), [1])
                if np.array(x) @ areas <= budget]
    assert cost(copies) == pytest.approx(min(cost(np.array(x)) for x in feasible))
    bottleneck = duplicate(cycles, areas, counts, budget, 40, 6, samples, objective="throughput")
    assert layer_durations(cycles, bottleneck).max() == min(layer_durations(cycles, np.array(x)).max()
                                                            for x in feasible)
    assert duplicate(cycles, areas, counts, 1000, 40, 6, samples) is None   # one copy each = 1700 cells


def toy(layer, copy, cycles, box=None):
    n = len(layer)
    return Pieces(np.array(layer), np.array(copy), np.full(n, 8), np.full(n, 8), np.array(cycles),
                  None if box is None else np.array(box))


def test_latency_of_a_two_layer_toy_matches_the_hand_worked_values():
    # layer A: 4 cycles, layer B: 2 cycles, 3 samples
    assert ideal_latency(np.array([4, 2]), 3) == 4 + 2 + 2 * 4 == 14
    pieces, ones = toy([0, 1], [0, 0], [4, 2]), np.ones(2, int)
    assert pipeline_latency(pieces, ones, np.array([0, 1]), 3) == 14      # private crossbars
    # one shared crossbar: A0 [0,4] B0 [4,6] A1 [6,10] B1 [10,12] A2 [12,16] B2 [16,18]
    assert pipeline_latency(pieces, ones, np.array([0, 0]), 3) == 18
    # A in two copies (2 cycles each) on crossbars 0 and 1, B shares crossbar 0 with copy 0:
    # A(s0) [0,2] both; B(s0) [2,4] on 0; A(s1) copy 1 [2,4], copy 0 waits for B: [4,6]; B(s1) [6,8]
    copies = np.array([2, 1])
    assert layer_durations(np.array([4, 2]), copies).tolist() == [2, 2]
    pieces = toy([0, 0, 1], [0, 1, 0], [4, 4, 2])
    assert pipeline_latency(pieces, copies, np.array([0, 1, 0]), 2) == 8
    assert ideal_latency(np.array([2, 2]), 2) == 6
    # two tiles of one box work together; two boxes (chunks) of one layer do not:
    # A = box 0 (3 cycles, crossbars 0 and 1) + box 1 (1 cycle, crossbar 2); B (2 cycles) on crossbar 2.
    # box 1 (s0) [0,1]; B(s0) waits for box 0: [3,5]; box 1 (s1) ready 1, crossbar 2 free: [1,2];
    # box 0 (s1) [3,6]; B(s1) [6,8]
    pieces = toy([0, 0, 0, 1], [0, 0, 0, 0], [3, 3, 1, 2], box=[0, 0, 1, 0])
    assert pipeline_latency(pieces, np.ones(2, int), np.array([0, 1, 2, 2]), 2) == 8


def test_private_crossbars_give_the_closed_form():
    rng = np.random.default_rng(3)
    for _ in range(5):
        cycles = rng.integers(1, 40, 6)
        copies = rng.integers(1, 5, 6)
        per_copy = rng.integers(1, 4, 6)
        layer = np.repeat(np.arange(6), per_copy * copies)
        copy = np.concatenate([np.repeat(np.arange(x), p) for x, p in zip(copies, per_copy)])
        pieces = toy(layer, copy, cycles[layer])
        d = layer_durations(cycles, copies)
        assert pipeline_latency(pieces, copies, np.arange(len(layer)), 5) == ideal_latency(d, 5)


def test_compile_with_a_budget_duplicates_and_beats_isaac():
    net = squeezenet()
    mapping = compile(net, 80, SPEC)
    assert check_placement(mapping.pieces, mapping.placement, SPEC) == []
    assert mapping.n_crossbars <= 80
    assert mapping.pieces.area.sum() <= 80 * SPEC.cells
    assert mapping.copies.max() > 1
    assert mapping.speedup_vs_isaac > 6 and mapping.utilisation >= 0.7
    assert compile(net, 60, SPEC).utilisation >= 0.8
    # the mapping's copies are what the pieces say
    assert np.array_equal(np.bincount(mapping.pieces.layer, minlength=len(net)),
                          mapping.copies * np.bincount(network_pieces(net, SPEC).layer))
    reference = compile(net, 80, SPEC, strategy="reference", seed=1)
    assert check_placement(reference.pieces, reference.placement, SPEC) == []
    assert mapping.latency_s < reference.latency_s


def test_search_is_no_worse_than_greedy_and_reproducible():
    net = squeezenet()
    options = {"population": 8, "generations": 3}
    greedy = compile(net, 60, SPEC)
    a = compile(net, 60, SPEC, strategy="search", seed=5, search_options=options)
    b = compile(net, 60, SPEC, strategy="search", seed=5, search_options=options)
    assert a.latency_s <= greedy.latency_s
    assert a.latency_s == b.latency_s and np.array_equal(a.placement.crossbar, b.placement.crossbar)
    assert check_placement(a.pieces, a.placement, SPEC) == []


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="strategy"):
        compile(squeezenet(), 80, SPEC, strategy="magic")
    with pytest.raises(ValueError, match="budget"):
        compile(squeezenet(), -3, SPEC)
    with pytest.raises(TypeError, match="Network"):
        compile([conv("c", 3, 8, 3, 4)], 10, SPEC)
    with pytest.raises(ValueError, match="groups"):
        conv("c", 6, 8, 3, 4, groups=4)
    with pytest.raises(ValueError, match="kind"):
        Layer(name="x", kind="pool", in_channels=1, out_channels=1)
    with pytest.raises(ValueError, match="max_load"):
        CompilerSpec(max_load=0)
    assert copy_pieces(network_pieces(squeezenet(), SPEC), np.full(26, 2)).copy.max() == 1
