"""Coverage of the covariate coefficients' standard errors (issue 12).

Draws ``--seeds`` data sets of ``--customers`` customers from a model with two
covariates (x1 ~ N(0, 1), x2 ~ Bernoulli(0.4)) in each of its processes, fits each,
and reports per parameter how many estimates lie within 2 reported standard errors
of the truth (the issue asks for at least 18 of 20) and the ratio of the mean
reported standard error to the spread of the estimates over seeds (within 20% of 1).

``--model``: ``bgnbd`` (the coefficients of ``generate.COVARIATE_EFFECTS``, ages
uniform over a year, weeks), ``pnbd`` (Pareto/NBD at the CDNOW estimates, the same
ages) or ``sbg`` (sBG at Fader & Hardie's 2007 "regular" segment, each customer
observed for 1 to 12 periods, uniformly).

    .venv/bin/python benchmarks/covariate_recovery.py --model pnbd      # 20 seeds x 100,000 customers
    .venv/bin/python benchmarks/covariate_recovery.py --seeds 3 --customers 5000   # smoke test
    .venv/bin/python benchmarks/covariate_recovery.py --pool results/a.json results/b.json   # runs of other seeds together

Prints a Markdown table; ``--json PATH`` writes the figures.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

import clvmodels as clv  # noqa: E402

BOTH = {"purchase_covariates": ["x1", "x2"], "dropout_covariates": ["x1", "x2"]}
SETTINGS = BOTH  # BG/NBD's, kept for callers of this module


def _draw_from(model_class, truth, settings, lengths):
    """A function (n, seed) -> a table drawn from ``model_class`` at ``truth`` with
    x1 ~ N(0, 1) and x2 ~ Bernoulli(0.4), observation lengths ``lengths(rng, n)``."""
    def draw(n, seed):
        rng = np.random.default_rng(seed)
        covariates = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.binomial(1, 0.4, n).astype(float)})
        model = model_class.from_dict({"params": truth, "time_unit": "W", "settings": settings})
        table = model.sample(lengths(rng, n), rng, covariates=covariates)
        table[["x1", "x2"]] = covariates.to_numpy()
        table.attrs["time_unit"] = "W"
        return table
    return draw


PNBD_EFFECTS = {"purchase[x1]": 0.3, "purchase[x2]": -0.2, "dropout[x1]": 0.2, "dropout[x2]": 0.3}
SBG_PARAMS = {"alpha": 0.704, "beta": 1.182}  # Fader & Hardie (2007), the "regular" segment
SBG_EFFECTS = {"dropout_alpha[x1]": 0.3, "dropout_alpha[x2]": -0.2, "dropout_beta[x1]": -0.1,
               "dropout_beta[x2]": 0.3}
ONLY_DROPOUT = {"dropout_covariates": ["x1", "x2"]}


def _year_of_ages(rng, n):
    return rng.uniform(1 / generate.DAYS_PER_WEEK, 52.0, n)


# model key -> (title, class, truth, settings, draw(n, seed))
MODELS = {
    "bgnbd": ("BG/NBD", clv.BetaGeoModel, {**generate.BG_PARAMS, **generate.COVARIATE_EFFECTS}, BOTH,
              lambda n, seed: generate.rfm_with_covariates(n, seed=seed)),
    "pnbd": ("Pareto/NBD", clv.ParetoNBDModel, {**generate.PNBD_PARAMS, **PNBD_EFFECTS}, BOTH,
             _draw_from(clv.ParetoNBDModel, {**generate.PNBD_PARAMS, **PNBD_EFFECTS}, BOTH, _year_of_ages)),
    "sbg": ("sBG", clv.ShiftedBetaGeoModel, {**SBG_PARAMS, **SBG_EFFECTS}, ONLY_DROPOUT,
            _draw_from(clv.ShiftedBetaGeoModel, {**SBG_PARAMS, **SBG_EFFECTS}, ONLY_DROPOUT,
                       lambda rng, n: rng.integers(1, 13, n).astype(float))),
}


def study(seeds, customers, model="bgnbd", first_seed=1000):
    """Estimates and standard errors of every parameter, one row per seed, and the
    CPU seconds of each fit."""
    _, model_class, _, settings, draw = MODELS[model]
    estimates, errors, seconds = [], [], []
    for seed in range(first_seed, first_seed + seeds):
        data = draw(customers, seed)
        started = time.process_time()
        fitted = model_class(**settings).fit(data)
        seconds.append(time.process_time() - started)
        estimates.append(fitted.params_)
        errors.append(fitted.standard_errors_)
    return pd.DataFrame(estimates).reset_index(drop=True), pd.DataFrame(errors).reset_index(drop=True), seconds


def coverage_table(estimates, errors, truth):
    names = list(truth)
    z = (estimates[names] - pd.Series(truth)) / errors[names]
    table = pd.DataFrame({
        "truth": pd.Series(truth),
        "mean_estimate": estimates[names].mean(),
        "within_2_se": (z.abs() <= 2).sum(),
        "seeds": len(estimates),
        "mean_reported_se": errors[names].mean(),
        "sd_over_seeds": estimates[names].std(ddof=1),
    })
    table["se_ratio"] = table["mean_reported_se"] / table["sd_over_seeds"]
    table["coverage_ok"] = table["within_2_se"] >= np.ceil(0.9 * table["seeds"])
    table["se_ok"] = (table["se_ratio"] - 1).abs() <= 0.2
    return table


def markdown(table):
    def cell(value):
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "**NO**"
        return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)

    lines = ["| parameter | " + " | ".join(table.columns) + " |", "|---" * (len(table.columns) + 1) + "|"]
    for name, row in table.iterrows():
        lines.append(f"| {name} | " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def pooled(paths):
    """The model, the estimates and the standard errors of several ``--json`` files
    (runs of the same model on different seeds) together."""
    records = [json.loads(Path(path).read_text()) for path in paths]
    models = {record.get("model", "bgnbd") for record in records}
    if len(models) != 1:
        raise SystemExit(f"--pool: the files hold different models: {sorted(models)}")

    def frame(record, key):
        return pd.DataFrame(record[key]["data"], columns=record[key]["columns"])

    estimates = pd.concat([frame(r, "estimates") for r in records], ignore_index=True)
    errors = pd.concat([frame(r, "std_errors") for r in records], ignore_index=True)
    return models.pop(), estimates, errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="bgnbd")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--first-seed", type=int, default=1000,
                        help="seeds first-seed, first-seed + 1, ... (more seeds: a larger --seeds)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--pool", type=Path, nargs="+", metavar="JSON",
                        help="print the table of these --json files' seeds together instead of fitting")
    args = parser.parse_args(argv)
    if args.pool:
        model, estimates, errors = pooled(args.pool)
        title, _, truth, _, _ = MODELS[model]
        print(f"{title} with covariates: {len(estimates)} seeds pooled from {len(args.pool)} files\n")
        print(markdown(coverage_table(estimates, errors, truth)))
        return 0
    title, _, truth, settings, _ = MODELS[args.model]
    started = time.perf_counter()
    estimates, errors, seconds = study(args.seeds, args.customers, args.model, args.first_seed)
    table = coverage_table(estimates, errors, truth)
    elapsed = time.perf_counter() - started
    print(f"{title} with covariates: {args.seeds} seeds x {args.customers:,} customers, {elapsed:.0f} s "
          f"(fits: median {np.median(seconds):.1f} s CPU)\n")
    print(markdown(table))
    if args.json:
        args.json.write_text(json.dumps({
            "model": args.model, "seeds": args.seeds, "first_seed": args.first_seed, "customers": args.customers,
            "settings": settings, "seconds": elapsed, "fit_cpu_seconds": seconds,
            "table": json.loads(table.to_json(orient="index")),
            "estimates": json.loads(estimates.to_json(orient="split")),
            "std_errors": json.loads(errors.to_json(orient="split")),
        }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
