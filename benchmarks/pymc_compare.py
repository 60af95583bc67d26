"""clvmodels against pymc-marketing on the same simulated BG/NBD data: fit time and intervals.

pymc-marketing is not a dependency of clvmodels; install it in a separate environment
and run this script with that environment's Python (clvmodels is imported from this
source tree, which needs only numpy, scipy and pandas):

    python3 -m venv /work/pymc-venv && /work/pymc-venv/bin/pip install pymc-marketing
    /work/pymc-venv/bin/python benchmarks/pymc_compare.py                        # 10k and 100k customers
    /work/pymc-venv/bin/python benchmarks/pymc_compare.py --customers 10000 --nuts-draws 300

Without pymc-marketing it prints why and exits cleanly (status 0).

Data: BG/NBD histories over 39 weeks and holdout purchases over the next 39 weeks from
the CDNOW-like parameters of ``tests/story_simulators.py``. Timed per library: the fit
(clvmodels' maximum likelihood; pymc-marketing's MAP and, up to ``--nuts-max-customers``,
a short NUTS run), then the 90% intervals each offers:

- clvmodels ``purchases_interval(level=0.9, n_draws=...)``: per-customer quantiles of
  the holdout purchase COUNT (closed-form predictive distribution, parameter draws
  mixed in) and ``total_purchases_interval``: the total's predictive interval;
- clvmodels ``expected_purchases(interval=0.9)``: the interval of each customer's
  EXPECTED purchases from the parameters' uncertainty;
- pymc-marketing (NUTS posterior): the 5%-95% posterior quantiles of
  ``expected_purchases`` per customer (an interval of the expectation; its BG/NBD model
  has no per-customer predictive distribution of the count) and of their sum.

Coverage is the share of customers whose actual holdout count lies in the interval
(the per-customer count intervals must cover ~90%; intervals of an expectation are not
meant to, which is the point of the comparison). Writes
``benchmarks/results/pymc_compare.json``.
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# This folder's coverage.py would shadow the coverage package numba looks for.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

T_CALIBRATION = T_HOLDOUT = 39.0
LEVEL = 0.9


def _cpu_seconds():
    """CPU time of this process and of its finished children (pytensor compiles its C
    code with g++ in child processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def timed(function):
    wall, cpu = time.perf_counter(), _cpu_seconds()
    result = function()
    return result, time.perf_counter() - wall, _cpu_seconds() - cpu


def coverage(actual, lower, upper):
    lower, upper = np.asarray(lower), np.asarray(upper)
    return {"inside": float(np.mean((actual >= lower) & (actual <= upper))),
            "below": float(np.mean(actual < lower)), "above": float(np.mean(actual > upper)),
            "mean_width": float(np.mean(upper - lower))}


def ours(data, holdout, n_draws):
    import clvmodels as clv

    model, fit_wall, fit_cpu = timed(lambda: clv.BetaGeoModel().fit(data))
    counts, count_wall, count_cpu = timed(
        lambda: model.purchases_interval(data, t=T_HOLDOUT, level=LEVEL, n_draws=n_draws, random_state=1))
    expected, exp_wall, exp_cpu = timed(
        lambda: model.expected_purchases(data, t=T_HOLDOUT, interval=LEVEL, n_draws=n_draws, random_state=1))
    total, total_wall, total_cpu = timed(
        lambda: model.total_purchases_interval(data, t=T_HOLDOUT, level=LEVEL, n_draws=n_draws, random_state=1))
    actual_total = float(holdout.sum())
    return {
        "params": {k: float(v) for k, v in model.params_.items()},
        "std_errors": {k: float(v) for k, v in model.standard_errors_.items()},
        "fit": {"wall_seconds": fit_wall, "cpu_seconds": fit_cpu},
        "count_interval": {"wall_seconds": count_wall, "cpu_seconds": count_cpu, **coverage(holdout, counts["lower"], counts["upper"])},
        "expected_interval": {"wall_seconds": exp_wall, "cpu_seconds": exp_cpu,
                              **coverage(holdout, expected["lower"], expected["upper"])},
        "total_interval": {"wall_seconds": total_wall, "cpu_seconds": total_cpu, "lower": float(total["lower"]),
                           "upper": float(total["upper"]), "estimate": float(total["estimate"]),
                           "covers_actual": bool(total["lower"] <= actual_total <= total["upper"])},
        "expected_total_interval": {k: float(expected.attrs["total"][k]) for k in ("lower", "upper")},
    }


def theirs(data, holdout, run_nuts, nuts_draws, nuts_tune, chains):
    from pymc_marketing.clv import BetaGeoModel

    table = data.assign(customer_id=np.arange(len(data)))
    found = {}
    model = BetaGeoModel(data=table)
    _, build_wall, build_cpu = timed(model.build_model)
    found["build"] = {"wall_seconds": build_wall, "cpu_seconds": build_cpu}
    _, map_wall, map_cpu = timed(lambda: model.fit(method="map", progressbar=False))
    posterior = model.idata.posterior
    found["map"] = {"wall_seconds": map_wall, "cpu_seconds": map_cpu,
                    "params": {k: float(posterior[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b")}}
    if not run_nuts:
        return found
    nuts_model = BetaGeoModel(data=table)
    _, nuts_wall, nuts_cpu = timed(lambda: nuts_model.fit(method="mcmc", draws=nuts_draws, tune=nuts_tune, chains=chains,
                                                          cores=1, progressbar=False, random_seed=1))
    posterior = nuts_model.idata.posterior
    expected, pred_wall, pred_cpu = timed(lambda: nuts_model.expected_purchases(table, future_t=T_HOLDOUT))
    draws = expected.values.reshape(-1, len(table))  # (chain x draw, customer)
    low, high = np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
    totals = draws.sum(axis=1)
    actual_total = float(holdout.sum())
    total_low, total_high = np.quantile(totals, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    divergences = int(nuts_model.idata.sample_stats["diverging"].values.sum())
    found["nuts"] = {
        "draws": nuts_draws, "tune": nuts_tune, "chains": chains, "wall_seconds": nuts_wall, "cpu_seconds": nuts_cpu,
        "divergences": divergences,
        "posterior_mean": {k: float(posterior[k].mean()) for k in ("r", "alpha", "a", "b")},
        "posterior_sd": {k: float(posterior[k].std()) for k in ("r", "alpha", "a", "b")},
        "expected_interval": {"wall_seconds": pred_wall, "cpu_seconds": pred_cpu, **coverage(holdout, low, high)},
        "expected_total_interval": {"lower": float(total_low), "upper": float(total_high),
                                    "covers_actual": bool(total_low <= actual_total <= total_high)},
    }
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--draws", type=int, default=100, help="clvmodels' parameter draws")
    parser.add_argument("--nuts-draws", type=int, default=250)
    parser.add_argument("--nuts-tune", type=int, default=250)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--nuts-max-customers", type=int, default=10_000,
                        help="run NUTS only on bases up to this size (0: never)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    try:
        import pymc_marketing
    except ImportError as error:
        print(f"pymc-marketing is not installed ({error}); it is not a dependency of clvmodels. Install it in a "
              "separate environment (python3 -m venv /work/pymc-venv && /work/pymc-venv/bin/pip install "
              "pymc-marketing) and run this script with that environment's Python. Nothing compared.")
        return 0
    from story_simulators import REGIMES, simulate_bgnbd

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    params = REGIMES["bgnbd"]["cdnow"]
    # pytensor compiles the model's C code on first use (cached on disk afterwards):
    # timed once on a small base, so the timings below are of warm runs.
    warm_data, _ = simulate_bgnbd(params, 500, T=T_CALIBRATION, t=T_HOLDOUT, seed=4)
    from pymc_marketing.clv import BetaGeoModel

    _, compile_wall, compile_cpu = timed(
        lambda: BetaGeoModel(data=warm_data.assign(customer_id=np.arange(500))).fit(method="map", progressbar=False))
    print(f"pymc-marketing first MAP fit (500 customers, compiling): {compile_wall:.1f} s wall, {compile_cpu:.1f} s CPU")
    record = {"pymc_marketing": pymc_marketing.__version__, "python": platform.python_version(), "true_params": params,
              "level": LEVEL, "first_use": {"wall_seconds": compile_wall, "cpu_seconds": compile_cpu}, "cases": []}
    for n in args.customers:
        data, holdout = simulate_bgnbd(params, n, T=T_CALIBRATION, t=T_HOLDOUT, seed=3)
        case = {"customers": n, "actual_total": float(holdout.sum()), "clvmodels": ours(data, holdout, args.draws)}
        case["pymc_marketing"] = theirs(data, holdout, 0 < n <= args.nuts_max_customers, args.nuts_draws, args.nuts_tune,
                                        args.chains)
        record["cases"].append(case)
        print_case(case)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pymc_compare.json").write_text(json.dumps(record, indent=1))
    return 0


def print_case(case):
    mine, other = case["clvmodels"], case["pymc_marketing"]
    print(f"\n### {case['customers']:,} customers (actual holdout total {case['actual_total']:,.0f})\n")
    print("| step | library | wall s | CPU s | 90% interval: inside / below / above | mean width |\n|---|---|---|---|---|---|")
    print(f"| fit (maximum likelihood) | clvmodels | {mine['fit']['wall_seconds']:.2f} | {mine['fit']['cpu_seconds']:.2f} | | |")
    print(f"| build model (compile) | pymc-marketing | {other['build']['wall_seconds']:.2f} | {other['build']['cpu_seconds']:.2f} | | |")
    print(f"| fit MAP | pymc-marketing | {other['map']['wall_seconds']:.2f} | {other['map']['cpu_seconds']:.2f} | | |")
    if "nuts" in other:
        nuts = other["nuts"]
        print(f"| fit NUTS ({nuts['chains']} x ({nuts['tune']} tune + {nuts['draws']} draws)) | pymc-marketing | "
              f"{nuts['wall_seconds']:.1f} | {nuts['cpu_seconds']:.1f} | | |")
    for label, key in (("count interval (purchases_interval)", "count_interval"),
                       ("interval of E[X] (expected_purchases)", "expected_interval")):
        row = mine[key]
        print(f"| {label} | clvmodels | {row['wall_seconds']:.2f} | {row['cpu_seconds']:.2f} | "
              f"{row['inside']:.1%} / {row['below']:.1%} / {row['above']:.1%} | {row['mean_width']:.3f} |")
    if "nuts" in other:
        row = other["nuts"]["expected_interval"]
        print(f"| interval of E[X] (posterior of expected_purchases) | pymc-marketing | {row['wall_seconds']:.2f} | "
              f"{row['cpu_seconds']:.2f} | {row['inside']:.1%} / {row['below']:.1%} / {row['above']:.1%} | "
              f"{row['mean_width']:.3f} |")
    total = mine["total_interval"]
    print(f"\ntotal: clvmodels predictive [{total['lower']:,.0f}, {total['upper']:,.0f}] "
          f"(covers actual: {total['covers_actual']}); clvmodels interval of the expected total "
          f"[{mine['expected_total_interval']['lower']:,.0f}, {mine['expected_total_interval']['upper']:,.0f}]")
    if "nuts" in other:
        t = other["nuts"]["expected_total_interval"]
        print(f"total: pymc-marketing posterior of the expected total [{t['lower']:,.0f}, {t['upper']:,.0f}] "
              f"(covers actual: {t['covers_actual']})")
        print("parameters: clvmodels " + ", ".join(f"{k} {v:.4g} (se {mine['std_errors'][k]:.3g})" for k, v in mine["params"].items())
              + "; pymc NUTS " + ", ".join(f"{k} {v:.4g} (sd {other['nuts']['posterior_sd'][k]:.3g})"
                                          for k, v in other["nuts"]["posterior_mean"].items()))
    print("MAP: " + ", ".join(f"{k} {v:.4g}" for k, v in other["map"]["params"].items()))


if __name__ == "__main__":
    sys.exit(main())
