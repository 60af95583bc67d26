"""The bootstrap of parameter_draws: serial, worker threads and worker processes.

    .venv/bin/python benchmarks/bootstrap.py                      # BG/NBD, 50,000 customers, 200 draws
    .venv/bin/python benchmarks/bootstrap.py --model pnbd --customers 10000 --draws 50

Fits the model on data simulated from its story (``tests/story_simulators.py``, the
CDNOW-like parameters), then draws the parameters by the bootstrap over customers with
one worker, with ``--jobs`` threads and with ``--jobs`` processes, checks the three
give the same draws, and compares the bootstrap's spread with the asymptotic standard
errors. Prints a table and writes ``benchmarks/results/bootstrap_<model>.json``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from story_simulators import REGIMES, SIMULATORS  # noqa: E402

from clvmodels import _bootstrap  # noqa: E402
from clvmodels._families import model_class  # noqa: E402


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=list(SIMULATORS), default="bgnbd")
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=_bootstrap.available_cores())
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    data, _ = SIMULATORS[args.model](REGIMES[args.model]["cdnow"], args.customers, T=39.0, t=39.0, seed=1)
    model, fit_wall, fit_cpu = timed(lambda: model_class(args.model)().fit(data))
    job_of = model._bootstrap_job()
    seeds = np.random.default_rng(0).integers(0, 2**63 - 1, size=args.draws)
    runs = {}
    for label, jobs, backend in (("serial", 1, "processes"), (f"{args.jobs} threads", args.jobs, "threads"),
                                 (f"{args.jobs} processes", args.jobs, "processes")):
        draws, wall, cpu = timed(lambda: _bootstrap.run(job_of, seeds, jobs, backend=backend))
        runs[label] = {"wall_seconds": wall, "cpu_seconds_main_process": cpu, "draws": np.exp(draws)}
    reference = runs["serial"]["draws"]
    same = all(np.array_equal(run["draws"], reference) for run in runs.values())
    spread = reference.std(axis=0, ddof=1) / model.standard_errors_.to_numpy()
    print(f"{model.title}, {args.customers:,} customers ({model.n_unique_rows_:,} distinct rows), "
          f"fit {fit_wall:.2f} s; {args.draws} bootstrap refits\n")
    print("| workers | wall s | per refit ms | speed-up |\n|---|---|---|---|")
    serial = runs["serial"]["wall_seconds"]
    for label, run in runs.items():
        print(f"| {label} | {run['wall_seconds']:.2f} | {1000 * run['wall_seconds'] / args.draws:.1f} | "
              f"{serial / run['wall_seconds']:.2f}x |")
    print(f"\nsame draws whatever the workers: {same}")
    print("bootstrap sd / asymptotic se: " + ", ".join(f"{n} {v:.3f}" for n, v in zip(model.param_names, spread)))
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "model": args.model, "customers": args.customers, "distinct_rows": model.n_unique_rows_, "draws": args.draws,
        "jobs": args.jobs, "fit_seconds": fit_wall, "same_draws": same,
        "runs": {k: {n: v for n, v in run.items() if n != "draws"} for k, run in runs.items()},
        "sd_over_se": dict(zip(model.param_names, map(float, spread))),
    }
    (args.out / f"bootstrap_{args.model}.json").write_text(json.dumps(record, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
