import json

import pytest

from tests.train.contract import assert_contract
from train.experiments import edge_compile


@pytest.mark.slow
def test_quick_preset_meets_the_reference_figures(tmp_path):
    metrics = edge_compile.run(edge_compile.Config.quick(), tmp_path, seed=0)
    # fewest crossbars without duplication: no worse than the reference's 47 and 111
    assert metrics["squeezenet/pieces_nodup"] == 80 and metrics["mobilenetv3_small/pieces_nodup"] == 249
    assert metrics["squeezenet/min_crossbars_nodup"] <= 47
    assert metrics["mobilenetv3_small/min_crossbars_nodup"] <= 111
    assert metrics["squeezenet/utilisation_nodup"] >= 0.9
    for name, budgets in (("squeezenet", (60, 100, 150)), ("mobilenetv3_small", (130, 249, 400))):
        util = [metrics[f"{name}/budget{b}/utilisation"] for b in budgets]
        speedup = [metrics[f"{name}/budget{b}/speedup_vs_isaac"] for b in budgets]
        assert max(util) >= 0.80 and max(speedup) >= 6.0
        assert speedup == sorted(speedup)                          # more crossbars, faster
        for b in budgets:                                          # greedy beats the reference strategy
            assert (metrics[f"{name}/budget{b}/speedup_vs_isaac"]
                    > metrics[f"{name}/budget{b}/reference/speedup_vs_isaac"])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["config"]["networks"] == ["squeezenet", "mobilenetv3_small"]
    assert "| 60 | greedy |" in (tmp_path / "results.md").read_text()
    for png in ("utilisation.png", "speedup.png", "mapping_squeezenet_nodup.png"):
        assert (tmp_path / png).stat().st_size > 10_000
    rows = {row["metric"]: row for row in saved["headlines"]}
    assert rows["squeezenet/speedup_vs_isaac/max"]["reproduced"] is True
    assert_contract("compile", tmp_path, metrics)


def test_config_names_the_allowed_networks():
    with pytest.raises(ValueError, match="mobilenetv3_small"):
        edge_compile.Config(networks=("vgg16",))
    with pytest.raises(ValueError, match="budget"):
        edge_compile.Config(squeezenet_budgets=())
