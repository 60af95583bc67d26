"""Calibration of the purchase intervals of every continuous model (issue 11) on data
simulated from the model's own story (``story_simulators``, independent of the
package's samplers): fit on a calibration period, then compare each customer's holdout
purchases with her interval. ``benchmarks/coverage.py`` runs the same check at 50,000
customers and 100 repetitions."""

import numpy as np
import pytest
from story_simulators import REGIMES, SIMULATORS

from clvmodels._families import model_class

CUSTOMERS = 4_000
# Pareto/NBD's conditional PMF costs ~n^2 per customer (FH 2006's sum of n + 1 terms
# for each count n), so its heavy buyers are checked on fewer customers here.
FEWER_CUSTOMERS = {("pnbd", "heavy buyers"): 500}
CASES = [(key, regime) for key in SIMULATORS for regime in REGIMES[key]]


def _tolerance(tail, n):
    """Three standard errors of a share near ``tail`` among ``n`` customers, plus half a point."""
    return 0.005 + 3 * np.sqrt(tail * (1 - tail) / n)


@pytest.fixture(scope="module", params=CASES, ids=[f"{k}-{r}" for k, r in CASES])
def fitted_case(request):
    key, regime = request.param
    n = FEWER_CUSTOMERS.get((key, regime), CUSTOMERS)
    data, holdout = SIMULATORS[key](REGIMES[key][regime], n, T=39.0, t=39.0, seed=2024)
    return model_class(key)().fit(data), data, holdout


@pytest.mark.parametrize("level", [0.8, 0.9])
def test_tails_hold_what_they_say(fitted_case, level):
    model, data, holdout = fitted_case
    interval = model.purchases_interval(data, t=39.0, level=level)
    lower, upper = interval["lower"].to_numpy(), interval["upper"].to_numpy()
    tail = (1 - level) / 2
    tolerance = _tolerance(tail, len(holdout))
    # Whole-number counts may make each tail smaller than nominal, never larger ...
    assert np.mean(holdout < lower) <= tail + tolerance
    assert np.mean(holdout > upper) <= tail + tolerance
    # ... and each bound is the smallest count whose CDF reaches its probability, so at
    # least the nominal tail lies at or beyond it: the interval is not too wide either.
    assert np.mean(holdout >= upper) >= tail - tolerance
    assert np.mean(holdout <= lower) >= tail - tolerance


@pytest.mark.parametrize("key", ["mbgnbd", "pnbd"])
def test_total_interval_covers_the_actual_total(key):
    # BG/NBD's is in test_intervals.py.
    params = REGIMES[key]["cdnow"]
    covered = 0
    for seed in range(20):
        data, holdout = SIMULATORS[key](params, 2_000, T=39.0, t=39.0, seed=500 + seed)
        model = model_class(key)().fit(data)
        total = model.total_purchases_interval(data, t=39.0, level=0.9, n_draws=50, random_state=seed)
        covered += total["lower"] <= holdout.sum() <= total["upper"]
    # 18 of 20 expected; 14 or fewer has probability 1.1% if calibrated.
    assert covered >= 15


def test_coverage_benchmark_runs(tmp_path):
    """benchmarks/coverage.py at a tiny size, so it cannot rot (one model: the script's
    code is the same for every model, whose intervals the tests above check)."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import coverage as coverage_benchmark

    coverage_benchmark.main(["--model", "mbgnbd", "--customers", "300", "--repetitions", "2", "--draws", "20",
                             "--out", str(tmp_path)])
    for key in ["mbgnbd"]:
        record = json.loads((tmp_path / f"coverage_{key}.json").read_text())
        assert record["model"] == key and record["customers"] == 300 and record["repetitions"] == 2
        assert [p["regime"] for p in record["per_customer"]] == list(REGIMES[key])
        for found in record["per_customer"]:
            assert [row["level"] for row in found["rows"]] == [0.8, 0.9]
            assert all(0 <= row["below_lower"] <= 1 and 0 <= row["above_upper"] <= 1 for row in found["rows"])
        assert all(0 <= total["covered"] <= 2 for total in record["total"])


def test_coverage_benchmark_checks_that_take_the_total_apart(tmp_path):
    """benchmarks/coverage.py's parameter-spread, process and error-split checks at a tiny
    size: each reports one row per parameter set and a verdict."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import coverage as coverage_benchmark

    coverage_benchmark.main(["--model", "bgnbd", "--regimes", "cdnow", "--checks", "parameters", "process", "split",
                             "--customers", "2000", "--repetitions", "3", "--draws", "20", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "coverage_bgnbd.json").read_text())
    assert record["per_customer"] == [] and record["total"] == []
    (spread,) = record["parameters"]
    assert spread["regime"] == "cdnow" and set(spread["sd_error_in_se"]) == {"r", "alpha", "a", "b"}
    assert all(value > 0 for value in spread["sd_error_in_se"].values())
    (process,) = record["process"]
    assert 0 <= process["covered"] <= 3 and process["sd_z"] > 0 and isinstance(process["ok"], bool)
    (split,) = record["split"]
    assert split["process_sd_z"] > 0 and split["parameter_sd_z"] > 0 and -1 <= split["correlation"] <= 1
    assert record["ok"] == (spread["ok"] and process["ok"] and split["ok"])
