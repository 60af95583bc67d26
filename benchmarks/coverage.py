"""Calibration of the prediction intervals (issue 11) on data simulated from BG/NBD.

    .venv/bin/python benchmarks/coverage.py                 # 50,000 customers, 100 repetitions
    .venv/bin/python benchmarks/coverage.py --customers 5000 --repetitions 10

For each parameter set (CDNOW-like, heavy buyers, fast churn): customers' calibration
histories (39 weeks) and holdout purchases (39 weeks) are drawn from the BG/NBD story,
the model is fitted on the calibration part, and the shares of customers below and
above their 80% and 90% purchase intervals are printed; then, over repeated
simulations, how often the 90% interval of the base's total holdout purchases covers
the actual total.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_intervals import REGIMES, simulate_bgnbd  # noqa: E402  (the test suite's independent simulator)

import clvmodels as clv  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--repetitions", type=int, default=100)
    args = parser.parse_args(argv)
    print("| parameters | level | below lower | nominal tail | above upper |\n|---|---|---|---|---|")
    for name, params in REGIMES.items():
        data, holdout = simulate_bgnbd(params, args.customers, T=39.0, t=39.0, seed=7)
        model = clv.BetaGeoModel().fit(data)
        for level in (0.8, 0.9):
            interval = model.purchases_interval(data, t=39.0, level=level)
            below = np.mean(holdout < interval["lower"].to_numpy())
            above = np.mean(holdout > interval["upper"].to_numpy())
            print(f"| {name} | {level:.0%} | {below:.2%} | {(1 - level) / 2:.0%} | {above:.2%} |")
    for name, params in REGIMES.items():
        covered = 0
        for seed in range(args.repetitions):
            data, holdout = simulate_bgnbd(params, args.customers, T=39.0, t=39.0, seed=10_000 + seed)
            model = clv.BetaGeoModel().fit(data)
            total = model.total_purchases_interval(data, t=39.0, level=0.9, n_draws=200, random_state=seed)
            covered += total["lower"] <= holdout.sum() <= total["upper"]
        print(f"{name}: the 90% interval of the total covered the actual total in {covered} of {args.repetitions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
