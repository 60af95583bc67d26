"""Calibration of the prediction intervals (issue 11) on data simulated from each continuous model.

    .venv/bin/python benchmarks/coverage.py                     # every model, 50,000 customers, 100 repetitions
    .venv/bin/python benchmarks/coverage.py --model pnbd  # one model
    .venv/bin/python benchmarks/coverage.py --customers 5000 --repetitions 10
    .venv/bin/python benchmarks/coverage.py --model mbgnbd --checks total --first-base 100  # bases 100-199
    .venv/bin/python benchmarks/coverage.py --checks parameters --repetitions 1000  # the estimates' spread

For each model (BG/NBD, MBG/NBD, Pareto/NBD) and each of its parameter sets (a
CDNOW-like base, heavy buyers, fast churn; ``tests/story_simulators.py``), customers'
calibration histories (39 weeks) and holdout purchases (39 weeks) are drawn from the
model's story by a simulator independent of the package, the model is fitted on the
calibration part, and the shares of customers below and above their 80% and 90%
purchase intervals are compared with the nominal tails (each share may be smaller than
its tail, since counts are whole numbers, but at most 2 points larger). Then, over
repeated simulations (a fresh base and a fresh fit each time), the share of times the
90% interval of the base's total holdout purchases (parameter uncertainty included)
covers the actual total, which must be at least 85 of 100. ``--first-base`` repeats that
check on other bases. Two further checks (not run by default) take that interval apart:
``--checks parameters``: over many bases, do the estimates spread as their asymptotic
standard errors say? ``--checks process``: at the true parameters, is the actual total
one more draw of the totals simulated given the histories? ``--checks split``: on the
total check's bases, is each part of the total's error as large as predicted?

Prints one markdown table per check and writes ``benchmarks/results/coverage_<model>.json``.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from story_simulators import REGIMES, SIMULATORS  # noqa: E402  (independent of the package's samplers)

from clvmodels._families import model_class  # noqa: E402
from clvmodels._intervals import predictive_bounds, with_params  # noqa: E402

T_CALIBRATION = 39.0
T_HOLDOUT = 39.0
LEVELS = (0.8, 0.9)
TOTAL_LEVEL = 0.9
TAIL_TOLERANCE = 0.02
TOTAL_REQUIRED = 0.85


def fitted_base(key, params, customers, seed):
    """One simulated base: calibration table, holdout purchases, the model fitted to the table."""
    data, holdout = SIMULATORS[key](params, customers, T=T_CALIBRATION, t=T_HOLDOUT, seed=seed)
    return data, holdout, model_class(key)().fit(data)


def sd_near_one(sd, repetitions):
    """An sd of ``repetitions`` standard-normal values within three of its standard errors of 1."""
    return bool(abs(sd - 1) <= 3 / np.sqrt(2 * (repetitions - 1)))


def mean_near_zero(mean, repetitions):
    """A mean of ``repetitions`` standard-normal values within three of its standard errors of 0."""
    return bool(abs(mean) <= 3 / np.sqrt(repetitions))


def tail_shares(model, data, holdout, level):
    """Shares of customers below the lower and above the upper bound of their interval."""
    interval = model.purchases_interval(data, t=T_HOLDOUT, level=level)
    below = float(np.mean(holdout < interval["lower"].to_numpy()))
    above = float(np.mean(holdout > interval["upper"].to_numpy()))
    return below, above


def per_customer(key, regime, params, customers, seed):
    data, holdout = SIMULATORS[key](params, customers, T=T_CALIBRATION, t=T_HOLDOUT, seed=seed)
    start = time.process_time()
    model = model_class(key)().fit(data)
    fit_cpu = time.process_time() - start
    rows = []
    for level in LEVELS:
        start = time.process_time()
        below, above = tail_shares(model, data, holdout, level)
        tail = (1 - level) / 2
        rows.append({
            "regime": regime, "level": level, "nominal_tail": tail, "below_lower": below, "above_upper": above,
            "ok": below <= tail + TAIL_TOLERANCE and above <= tail + TAIL_TOLERANCE,
            "interval_cpu_seconds": time.process_time() - start,
        })
    return {"fitted": {k: float(v) for k, v in model.params_.items()}, "fit_cpu_seconds": fit_cpu, "rows": rows}


def total_coverage(key, params, customers, repetitions, n_draws, method, first_base=0):
    """Over ``repetitions`` fresh bases (numbered from ``first_base``): is the actual
    holdout total inside the 90% interval of the total, and where does it fall (its
    z-score against the interval)."""
    covered, low_misses, high_misses, z_scores = 0, 0, 0, []
    for seed in range(first_base, first_base + repetitions):
        data, holdout, model = fitted_base(key, params, customers, seed=10_000 + seed)
        total = model.total_purchases_interval(data, t=T_HOLDOUT, level=TOTAL_LEVEL, n_draws=n_draws,
                                               random_state=seed, interval_method=method)
        actual = float(holdout.sum())
        covered += bool(total["lower"] <= actual <= total["upper"])
        low_misses += bool(actual < total["lower"])
        high_misses += bool(actual > total["upper"])
        half_width = (total["upper"] - total["lower"]) / 2 / 1.6448536269514722
        z_scores.append((actual - total["estimate"]) / half_width if half_width > 0 else float("nan"))
    return {
        "covered": covered, "repetitions": repetitions, "first_base": first_base,
        "below_lower": low_misses, "above_upper": high_misses,
        "mean_z": float(np.nanmean(z_scores)), "sd_z": float(np.nanstd(z_scores)),
        "ok": covered >= TOTAL_REQUIRED * repetitions,
    }


def parameter_spread(key, params, customers, repetitions):
    """Over ``repetitions`` fresh bases: do the log-parameter estimates spread as their
    asymptotic standard errors say (the parameter part of every interval)?

    For each parameter, the sd over bases of (log estimate - log true) / standard error
    should be 1 and its mean 0; both are accepted within three of their own standard
    errors (1 / sqrt(2 (R - 1)) and 1 / sqrt(R) over R bases).
    """
    names = list(model_class(key).param_names)
    truth = np.log([params[name] for name in names])
    scaled = []
    for seed in range(repetitions):
        data, _, model = fitted_base(key, params, customers, seed=20_000 + seed)
        se_log = model.standard_errors_.to_numpy() / model.params_.to_numpy()
        scaled.append((np.log(model.params_.to_numpy()) - truth) / se_log)
    scaled = np.array(scaled)
    mean, sd = scaled.mean(axis=0), scaled.std(axis=0, ddof=1)
    ok = all(sd_near_one(v, repetitions) for v in sd) and all(mean_near_zero(v, repetitions) for v in mean)
    return {"repetitions": repetitions, "mean_error_in_se": dict(zip(names, mean.tolist())),
            "sd_error_in_se": dict(zip(names, sd.tolist())), "ok": ok}


def process_spread(key, params, customers, repetitions, n_draws):
    """Over ``repetitions`` fresh bases, at the true parameters: does the actual holdout
    total fall among ``n_draws`` totals simulated given the histories as one more draw
    would (the who-buys part of the total's interval, without parameter uncertainty)?

    z = (actual - mean of the simulated totals) / their sd should have mean 0 and sd 1
    over the bases; both are accepted within three of their own standard errors.
    """
    truth = [params[name] for name in model_class(key).param_names]
    covered, z_scores = 0, []
    rng = np.random.default_rng(0)
    for seed in range(repetitions):
        data, holdout, model = fitted_base(key, params, customers, seed=30_000 + seed)
        columns, history = model.formula_params(data, np.asarray(truth, dtype=float)), model.history(data)
        totals = np.array([model.formulas.sample_future_purchases(columns, [T_HOLDOUT], *history, rng).sum()
                           for _ in range(n_draws)])
        actual = float(holdout.sum())
        low, high = predictive_bounds(totals, TOTAL_LEVEL)
        covered += bool(low <= actual <= high)
        z_scores.append((actual - totals.mean()) / totals.std(ddof=1))
    mean, sd = float(np.mean(z_scores)), float(np.std(z_scores, ddof=1))
    ok = sd_near_one(sd, repetitions) and mean_near_zero(mean, repetitions)
    return {"repetitions": repetitions, "n_draws": n_draws, "covered": covered, "mean_z": mean, "sd_z": sd, "ok": ok}


def error_split(key, params, customers, repetitions, n_draws, first_base=0):
    """Over ``repetitions`` bases (the total check's, from ``first_base``): the total's
    error, actual - estimate, split into a process part, actual - E(total | histories,
    true parameters), and a parameter part, the rest; each over its own predicted sd
    (process: ``n_draws`` totals simulated at the estimate; parameters: the delta
    method with the asymptotic covariance). Both z should have sd 1 and be uncorrelated.
    """
    names = list(model_class(key).param_names)
    rng = np.random.default_rng(0)
    process_z, parameter_z = [], []
    for seed in range(first_base, first_base + repetitions):
        data, holdout, model = fitted_base(key, params, customers, seed=10_000 + seed)
        estimate = model.params_.to_numpy()

        def total(theta):
            return float(with_params(model, theta).expected_purchases(data, T_HOLDOUT).sum())

        step = 1e-5 * np.eye(len(names))
        gradient = np.array([(total(estimate * np.exp(h)) - total(estimate * np.exp(-h))) / 2e-5 for h in step])
        cov_log = model.covariance_.to_numpy() / np.outer(estimate, estimate)
        columns, history = model.formula_params(data, estimate), model.history(data)
        simulated = [model.formulas.sample_future_purchases(columns, [T_HOLDOUT], *history, rng).sum()
                     for _ in range(n_draws)]
        at_truth = total([params[name] for name in names])
        process_z.append((float(holdout.sum()) - at_truth) / np.std(simulated, ddof=1))
        parameter_z.append((at_truth - total(estimate)) / np.sqrt(gradient @ cov_log @ gradient))
    process_sd, parameter_sd = float(np.std(process_z, ddof=1)), float(np.std(parameter_z, ddof=1))
    return {"repetitions": repetitions, "first_base": first_base, "n_draws": n_draws,
            "process_sd_z": process_sd, "parameter_sd_z": parameter_sd,
            "correlation": float(np.corrcoef(process_z, parameter_z)[0, 1]),
            "ok": sd_near_one(process_sd, repetitions) and sd_near_one(parameter_sd, repetitions)}


def run_model(key, customers, total_customers, repetitions, n_draws, method, regimes=None, checks=("per-customer", "total"),
              first_base=0):
    title = model_class(key).title
    record = {"model": key, "title": title, "customers": customers, "total_customers": total_customers,
              "repetitions": repetitions, "n_draws": n_draws,
              "interval_method": method, "calibration_weeks": T_CALIBRATION, "holdout_weeks": T_HOLDOUT,
              "per_customer": [], "total": [], "parameters": [], "process": [], "split": []}
    chosen = {name: params for name, params in REGIMES[key].items() if regimes is None or name in regimes}
    print(f"\n### {title}\n")
    if "per-customer" in checks:
        print(f"Per-customer intervals, {customers:,} customers\n")
        print("| parameters | level | below lower | nominal tail | above upper | ok |\n|---|---|---|---|---|---|")
    for regime, params in chosen.items():
        if "per-customer" not in checks:
            break
        found = per_customer(key, regime, params, customers, seed=7)
        record["per_customer"].append({"regime": regime, "true": params, **found})
        for row in found["rows"]:
            print(f"| {regime} | {row['level']:.0%} | {row['below_lower']:.2%} | {row['nominal_tail']:.0%} | "
                  f"{row['above_upper']:.2%} | {'yes' if row['ok'] else 'NO'} |")
    if "total" in checks:
        print(f"\n{repetitions} bases of {total_customers:,} customers, {n_draws} parameter draws ({method})\n")
        print(f"| parameters | 90% total interval covers the actual total | below | above | mean z | sd z | ok |"
              "\n|---|---|---|---|---|---|---|")
    for regime, params in chosen.items():
        if "total" not in checks:
            break
        start = time.perf_counter()
        found = total_coverage(key, params, total_customers, repetitions, n_draws, method, first_base)
        found["seconds"] = time.perf_counter() - start
        record["total"].append({"regime": regime, **found})
        print(f"| {regime} | {found['covered']} of {repetitions} | {found['below_lower']} | {found['above_upper']} | "
              f"{found['mean_z']:+.2f} | {found['sd_z']:.2f} | {'yes' if found['ok'] else 'NO'} |", flush=True)
    if "parameters" in checks:
        print(f"\nSpread of the estimates over {repetitions} bases of {total_customers:,} customers: "
              "(log estimate - log true) / standard error, mean and sd per parameter (0 and 1 when calibrated)\n")
        print("| parameters | mean | sd | ok |\n|---|---|---|---|")
    for regime, params in chosen.items():
        if "parameters" not in checks:
            break
        found = parameter_spread(key, params, total_customers, repetitions)
        record["parameters"].append({"regime": regime, **found})
        means = ", ".join(f"{k} {v:+.2f}" for k, v in found["mean_error_in_se"].items())
        sds = ", ".join(f"{k} {v:.2f}" for k, v in found["sd_error_in_se"].items())
        print(f"| {regime} | {means} | {sds} | {'yes' if found['ok'] else 'NO'} |", flush=True)
    if "process" in checks:
        print(f"\nThe total at the true parameters over {repetitions} bases of {total_customers:,} customers, "
              f"{n_draws} simulated totals each\n")
        print(f"| parameters | {TOTAL_LEVEL:.0%} interval covers the actual total | mean z | sd z | ok |\n|---|---|---|---|---|")
    for regime, params in chosen.items():
        if "process" not in checks:
            break
        found = process_spread(key, params, total_customers, repetitions, n_draws)
        record["process"].append({"regime": regime, **found})
        print(f"| {regime} | {found['covered']} of {repetitions} | {found['mean_z']:+.2f} | {found['sd_z']:.2f} | "
              f"{'yes' if found['ok'] else 'NO'} |", flush=True)
    if "split" in checks:
        print(f"\nThe total's error split over bases {first_base}-{first_base + repetitions - 1} of "
              f"{total_customers:,} customers\n")
        print("| parameters | process sd z | parameter sd z | correlation | ok |\n|---|---|---|---|---|")
    for regime, params in chosen.items():
        if "split" not in checks:
            break
        found = error_split(key, params, total_customers, repetitions, n_draws, first_base)
        record["split"].append({"regime": regime, **found})
        print(f"| {regime} | {found['process_sd_z']:.2f} | {found['parameter_sd_z']:.2f} | "
              f"{found['correlation']:+.2f} | {'yes' if found['ok'] else 'NO'} |", flush=True)
    record["ok"] = all(r["ok"] for p in record["per_customer"] for r in p["rows"]) and all(
        t["ok"] for check in ("total", "parameters", "process", "split") for t in record[check])
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=[*SIMULATORS, "all"], default="all")
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--total-customers", type=int, default=None,
                        help="customers in each repetition of the total's check (default: --customers)")
    parser.add_argument("--repetitions", type=int, default=100)
    parser.add_argument("--draws", type=int, default=200, help="parameter draws behind the total's interval")
    parser.add_argument("--regimes", nargs="+", help="parameter sets to run (default: all of the model's)")
    parser.add_argument("--checks", nargs="+", choices=["per-customer", "total", "parameters", "process", "split"],
                        default=["per-customer", "total"])
    parser.add_argument("--first-base", type=int, default=0,
                        help="number of the first simulated base of the total's check (bases 0-99 by default; "
                             "a later range repeats the check on other bases)")
    parser.add_argument("--interval-method", choices=["asymptotic", "bootstrap"], default="asymptotic")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="directory for coverage_<model>.json (default benchmarks/results)")
    args = parser.parse_args(argv)
    keys = list(SIMULATORS) if args.model == "all" else [args.model]
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for key in keys:
        start = time.perf_counter()
        record = run_model(key, args.customers, args.total_customers or args.customers, args.repetitions, args.draws,
                           args.interval_method, args.regimes, args.checks, args.first_base)
        record.update(seconds=time.perf_counter() - start, python=platform.python_version(),
                      command=" ".join(["benchmarks/coverage.py", *(argv if argv is not None else sys.argv[1:])]))
        (args.out / f"coverage_{key}.json").write_text(json.dumps(record, indent=1))
        if not record["ok"]:
            failed.append(key)
    if failed:
        print(f"\ncalibration FAILED for: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
