"""The ``clvmodels`` command, run as the installed console script.

Every command-line test starts the ``clvmodels`` script that pip installed next to
the interpreter (``<venv>/bin/clvmodels``), as a scheduled job would. The expected
values come from the Python API on the bundled CDNOW master data (FHL 2005's
23,570-customer cohort): the same rfm_summary, fits, predictions and CLV.
Subprocesses that do not depend on each other run concurrently to keep the file fast.
"""

import gzip
import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels import _io, cli
from clvmodels.clv import period_length
from clvmodels.segments import customer_segments

SCRIPT = Path(sys.executable).with_name("clvmodels")
N_CUSTOMERS = 23_570
OUTPUT_COLUMNS = [
    "customer_id", "frequency", "recency", "T", "monetary_value", "probability_alive",
    "expected_purchases", "expected_spend", "clv", "segment",
]
VALUE_COLUMNS = OUTPUT_COLUMNS[1:-1]


def run(*args, cwd=None, env=None, timeout=300):
    """Run the installed ``clvmodels`` script; returns the CompletedProcess (text output)."""
    assert SCRIPT.exists(), f"{SCRIPT} is missing: install the package (pip install -e .)"
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def run_all(commands, **kwargs):
    """Run several independent commands concurrently; results in the same order."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: run(*args, **kwargs), commands))


def once_per_session(tmp_path_factory, name, build):
    """``build(folder)`` once per test session, even across pytest-xdist workers.

    The workers of one session share the parent of their temporary directories; a
    file lock makes the first worker build and the others read its (JSON) result.
    Returns ``(folder, result)``.
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / name
    try:
        import fcntl
    except ImportError:  # no POSIX locks: every worker builds its own copy
        fcntl, folder = None, base / name
    with open(root / f"{name}.lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder / "done.json"
        if not done.exists():
            folder.mkdir(exist_ok=True)
            done.write_text(json.dumps(build(folder)))
        return folder, json.loads(done.read_text())


def as_record(result):
    return {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}


# ----- data and the Python API's answer ------------------------------------------------------------
@pytest.fixture(scope="module")
def cdnow():
    return clv.datasets.load_cdnow()


def write_cdnow_files(folder):
    """CDNOW master as a plain CSV with header, as Parquet, and in its original layout gzipped."""
    cdnow = clv.datasets.load_cdnow()
    plain = cdnow.assign(date=cdnow["date"].dt.strftime("%Y-%m-%d"))
    plain.to_csv(folder / "cdnow.csv", index=False)
    cdnow.to_parquet(folder / "cdnow.parquet", index=False)
    # The original file: whitespace separated, dates as YYYYMMDD, ids with leading zeros.
    original = resources.files("clvmodels.datasets").joinpath("CDNOW_master.txt").read_bytes()
    with gzip.open(folder / "CDNOW_master.txt.gz", "wb") as handle:
        handle.write(original)


def run_forecasts(folder):
    """The main acceptance runs of the installed script, concurrently."""
    write_cdnow_files(folder)
    commands = {
        "csv": ["forecast", "cdnow.csv", "--out", "csv.csv", "--time-unit", "W", "--amount-col", "amount"],
        "parquet": ["forecast", "cdnow.parquet", "--out", "parquet.parquet", "--time-unit", "W",
                    "--amount-col", "amount"],
        "original": ["forecast", "CDNOW_master.txt.gz", "--out", "original.csv.gz", "--sep", "whitespace",
                     "--date-format", "%Y%m%d", "--amount-col", "dollar_value", "--time-unit", "W", "--quiet"],
        "dataset": ["forecast", "--dataset", "cdnow", "--out", "dataset.csv"],
        "fit": ["fit", "cdnow.csv", "--model-out", "model.json", "--time-unit", "W", "--amount-col", "amount"],
    }
    return dict(zip(commands, map(as_record, run_all(list(commands.values()), cwd=folder))))


@pytest.fixture(scope="module")
def forecasts(tmp_path_factory):
    """(folder with the inputs and outputs, {run: returncode/stdout/stderr})."""
    folder, results = once_per_session(tmp_path_factory, "cli_forecasts", run_forecasts)
    for name, result in results.items():
        assert result["returncode"] == 0, f"{name}: {result['stderr']}"
    return folder, results


@pytest.fixture(scope="module")
def files(forecasts):
    return forecasts[0]


@pytest.fixture(scope="module")
def expected(cdnow):
    """The forecast the Python API gives (weeks, 12 months, 1% discount rate per month)."""
    rfm = clv.rfm_summary(cdnow, "customer_id", "date", "amount", time_unit="W")
    bg = clv.BetaGeoModel().fit(rfm)
    gg = clv.GammaGammaModel().fit(rfm)
    table = rfm.copy()
    table["probability_alive"] = bg.probability_alive(rfm)
    table["expected_purchases"] = bg.expected_purchases(rfm, t=12 * period_length("M", "W"))
    table["expected_spend"] = gg.expected_spend(rfm)
    table["clv"] = clv.customer_lifetime_value(bg, gg, rfm, horizon=12, period="M", discount_rate=0.01)
    table["segment"] = customer_segments(bg, rfm, spend_model=gg)["segment"]
    table.attrs["params"] = (bg.params_, gg.params_)
    return table


def assert_matches_api(table, expected, id_type=int):
    assert len(table) == N_CUSTOMERS
    ids = table.iloc[:, 0].map(id_type)
    assert ids.is_unique and ids.is_monotonic_increasing
    table = table.set_index(ids)
    assert table.index.tolist() == expected.index.tolist()
    for column in VALUE_COLUMNS:
        np.testing.assert_allclose(table[column].to_numpy(float), expected[column].to_numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=column)
    assert (table["segment"].astype(str).to_numpy() == expected["segment"].astype(str).to_numpy()).all()


# ----- acceptance: forecast, fit -> predict, determinism ------------------------------------------
def test_forecast_csv_matches_python_api(forecasts, expected):
    out, results = forecasts
    table = pd.read_csv(out / "csv.csv")
    assert list(table.columns) == OUTPUT_COLUMNS
    assert_matches_api(table, expected)
    # Progress: one line per step with times, and the closing summary, on stderr.
    stderr = results["csv"]["stderr"]
    for step in ("read cdnow.csv: 69,659 rows", "summarise: 23,570 customers", "fit: BetaGeoModel, GammaGammaModel",
                 "score: 23,570 customers", "write csv.csv"):
        assert step in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("clvmodels forecast: 23,570 customers -> csv.csv in ") and last.endswith(" s")


def test_forecast_parquet_matches_python_api(forecasts, expected):
    out, _ = forecasts
    table = pd.read_parquet(out / "parquet.parquet")
    assert list(table.columns) == OUTPUT_COLUMNS
    assert table["customer_id"].dtype == np.int64
    assert_matches_api(table, expected)


def test_original_master_file_gzip_with_date_format(forecasts, expected):
    """The file as published: whitespace-separated, YYYYMMDD dates, ids with leading zeros."""
    out, results = forecasts
    assert results["original"]["stderr"] == ""  # --quiet
    table = pd.read_csv(out / "original.csv.gz", dtype={"customer_id": str})
    assert table["customer_id"].iloc[:3].tolist() == ["00001", "00002", "00003"]  # ids kept as written
    assert_matches_api(table, expected)


def test_same_input_same_bytes(forecasts, tmp_path, monkeypatch):
    out, _ = forecasts
    # The bundled data set with its defaults is the same job as the CSV with W and amount.
    assert (out / "csv.csv").read_bytes() == (out / "dataset.csv").read_bytes()
    # Run again (in-process, same code): the same CSV and Parquet bytes.
    monkeypatch.chdir(tmp_path)
    for source, target in [("cdnow.csv", "again.csv"), ("cdnow.csv", "again.parquet")]:
        assert cli.main(["forecast", str(out / source), "--out", target, "--time-unit", "W", "--amount-col", "amount",
                         "-q"]) == 0
    assert (tmp_path / "again.csv").read_bytes() == (out / "csv.csv").read_bytes()
    assert (tmp_path / "again.parquet").read_bytes() == (out / "parquet.parquet").read_bytes()


def test_dataset_forecast_prints_summary(forecasts, expected):
    """What `make demo` shows: parameter tables, totals and quantiles, segments, top 5."""
    _, results = forecasts
    stdout = results["dataset"]["stdout"]
    bg_params, gg_params = expected.attrs["params"]
    for name in ["r", "alpha", "a", "b", "p", "q", "v"]:
        assert any(line.split()[:1] == [name] for line in stdout.splitlines()), name
    assert f"{bg_params['r']:.6g}" in stdout and f"{gg_params['p']:.6g}" in stdout
    assert "Forecast: 23,570 customers" in stdout
    clv_line = next(line for line in stdout.splitlines() if line.startswith("clv "))
    assert f"{expected['clv'].sum():,.2f}" in clv_line
    assert "Segments: " in stdout
    top = stdout[stdout.index("Top 5 customers by CLV"):].splitlines()[3:8]
    best = expected["clv"].sort_values(ascending=False).index[:5].tolist()
    assert [int(line.split()[0]) for line in top] == best


def test_fit_then_predict_equals_forecast(forecasts, tmp_path):
    out, results = forecasts
    assert "BG/NBD" in results["fit"]["stdout"] and "Gamma-Gamma" in results["fit"]["stdout"]
    bundle = json.loads((out / "model.json").read_text())
    assert bundle["format"] == cli.BUNDLE_FORMAT
    assert bundle["settings"]["time_unit"] == "W" and bundle["settings"]["amount_col"] == "amount"
    assert bundle["transaction_model"]["model"] == "BetaGeoModel"
    assert bundle["spend_model"]["model"] == "GammaGammaModel"
    data = bundle["data"]
    assert Path(data["source"]).name == "cdnow.csv"
    assert (data["n_rows"], data["n_customers"], data["observation_end"]) == (69_659, N_CUSTOMERS, "1998-06-30")
    # predict takes the columns, time unit and forecast settings from the model file.
    result = run("predict", out / "cdnow.csv", "--model", out / "model.json", "--out", tmp_path / "p.csv")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p.csv").read_bytes() == (out / "csv.csv").read_bytes()


# ----- atomic output -----------------------------------------------------------------------------
def test_failing_run_leaves_existing_output_and_no_temp_files(tmp_path):
    """A job that fails (here: three customers are too few to fit BG/NBD) keeps yesterday's forecast."""
    (tmp_path / "tx.csv").write_text("customer_id,date\n1,2020-01-01\n2,2020-01-05\n3,2020-01-09\n")
    (tmp_path / "forecast.csv").write_text("yesterday\n")
    plain, debug = run_all([
        ["forecast", "tx.csv", "--out", "forecast.csv"],
        ["forecast", "tx.csv", "--out", "forecast.csv", "--debug"],
    ], cwd=tmp_path)
    # A failure: non-zero exit, one line naming the error, the traceback only with --debug.
    assert plain.returncode in (1, 2)
    errors = [line for line in plain.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "too little data for BetaGeoModel" in errors[0]
    assert "Traceback" not in plain.stderr
    assert debug.returncode == plain.returncode
    assert (tmp_path / "forecast.csv").read_text() == "yesterday\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecast.csv", "tx.csv"]


def test_interrupted_write_removes_temp_file_and_keeps_target(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    table = pd.DataFrame({"id": [1, 2], "x": [0.5, 1.5]})

    def fail_half_way(data, binary):
        binary.write(b"id,x\n1,0.5\n")
        raise KeyboardInterrupt  # e.g. SIGTERM/Ctrl-C in the middle of writing

    monkeypatch.setattr(_io, "_write_csv", fail_half_way)
    with pytest.raises(KeyboardInterrupt):
        _io.write_table(table, target)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    monkeypatch.undo()
    _io.write_table(table, target)
    assert target.read_text() == "id,x\n1,0.5\n2,1.5\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not the temp file's private mode


# ----- errors: exit 2, one line naming file, column and rows -------------------------------------
GOOD = "customer_id,date,amount\n1,2020-01-01,5\n1,2020-02-01,7\n2,2020-01-05,4\n2,2020-03-05,4\n3,2020-01-09,2\n"


def write_inputs(folder):
    (folder / "tx.csv").write_text(GOOD)
    (folder / "tx.xlsx").write_text(GOOD)
    (folder / "binary.csv").write_bytes(bytes(range(256)) * 20)
    (folder / "bad_dates.csv").write_text(GOOD.replace("2020-02-01", "31/01/2020").replace("2020-03-05", "n.a."))
    (folder / "negative.csv").write_text(GOOD.replace(",5\n", ",-5\n").replace(",4\n", ",-4\n"))
    (folder / "both.csv").write_text(GOOD.replace("2020-02-01", "later").replace(",2\n", ",-2\n"))
    (folder / "ragged.csv").write_text(GOOD.replace("2020-02-01,7", "2020-02-01,7,9"))
    (folder / "plain.csv.gz").write_text(GOOD)
    (folder / "empty.csv").write_text("")
    model = clv.BetaGeoModel()  # a fitted-looking model in weeks, without fitting
    model.params_ = pd.Series({"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.4})
    model.time_unit_, model.log_likelihood_, model.n_customers_, model.n_unique_rows_ = "W", -1.0, 10.0, 10
    model.optimizer_, model._cov_log, model.metadata_ = "test", np.full((4, 4), np.nan), {}
    settings = {**dict.fromkeys(cli.SETTINGS), "customer_col": "customer_id", "date_col": "date", "time_unit": "W",
                "horizon": 12, "period": "M", "discount_rate": 0.01, "margin": 1.0, "penalizer": 0.0}
    bundle = {"format": cli.BUNDLE_FORMAT, "format_version": 1, "transaction_model": model.to_dict(),
              "spend_model": None, "settings": settings}
    (folder / "model.json").write_text(json.dumps(bundle))
    return bundle


# The error classes of the issue, each run through the installed script.
SCRIPT_ERRORS = {
    "missing file": (["forecast", "nowhere.csv", "--out", "o.csv", "--quiet"], ["nowhere.csv", "no such file"]),
    "not a CSV": (["forecast", "binary.csv", "--out", "o.csv", "--quiet"], ["binary.csv", "not a text CSV"]),
    "missing column": (["forecast", "tx.csv", "--out", "o.csv", "--amount-col", "spend", "--quiet"],
                       ["tx.csv", "column 'spend'", "missing", "'amount'"]),
    "unparseable dates": (["forecast", "bad_dates.csv", "--out", "o.csv", "--date-format", "%Y-%m-%d", "--quiet"],
                          ["bad_dates.csv", "column 'date'", "2 rows", "not dates", "'31/01/2020'"]),
    "negative amounts": (["forecast", "negative.csv", "--out", "o.csv", "--amount-col", "amount", "--quiet"],
                         ["negative.csv", "column 'amount'", "3 rows", "negative"]),
    "unknown option": (["forecast", "tx.csv", "--out", "o.csv", "--horizn", "3"], ["unrecognized arguments: --horizn"]),
}
# More of them, run in-process through cli.main (same code, no interpreter start-up).
MAIN_ERRORS = {
    "several problems": (["forecast", "both.csv", "--out", "o.csv", "--amount-col", "amount", "--quiet"],
                         ["both.csv", "2 problems", "column 'date'", "column 'amount'", "1 row"]),
    "unknown file type": (["forecast", "tx.xlsx", "--out", "o.csv"], ["tx.xlsx", "unknown file type"]),
    "row with a surplus field": (["forecast", "ragged.csv", "--out", "o.csv"], ["ragged.csv", "line 3", "saw 4"]),
    "not gzip": (["forecast", "plain.csv.gz", "--out", "o.csv"], ["plain.csv.gz", "not a valid compressed file"]),
    "empty file": (["forecast", "empty.csv", "--out", "o.csv"], ["empty.csv", "empty"]),
    "bad option value": (["forecast", "tx.csv", "--out", "o.csv", "--period", "fortnight"], ["--period", "fortnight"]),
    "bad number": (["forecast", "tx.csv", "--out", "o.csv", "--horizon", "0"], ["--horizon", "at least 1"]),
    "no input": (["forecast", "--out", "o.csv"], ["TRANSACTIONS"]),
    "file and dataset": (["forecast", "tx.csv", "--dataset", "cdnow", "--out", "o.csv"], ["not both"]),
    "bad observation end": (["forecast", "tx.csv", "--out", "o.csv", "--observation-end", "soon"],
                            ["--observation-end", "'soon'", "not a date"]),
    "bad output format": (["forecast", "tx.csv", "--out", "o.xlsx"], ["o.xlsx", ".csv, .csv.gz, .parquet"]),
    "missing output directory": (["forecast", "tx.csv", "--out", "no/o.csv"], ["no/o.csv", "does not exist"]),
    "no model file": (["predict", "tx.csv", "--model", "none.json", "--out", "o.csv"], ["none.json", "no such file"]),
    "not a model file": (["predict", "tx.csv", "--model", "tx.csv", "--out", "o.csv"], ["tx.csv", "not valid JSON"]),
    "time unit against model": (["predict", "tx.csv", "--model", "model.json", "--out", "o.csv", "--time-unit", "D"],
                                ["--time-unit D", "model.json", "W"]),
    "amount without spend model": (["predict", "tx.csv", "--model", "model.json", "--out", "o.csv",
                                    "--amount-col", "amount"], ["model.json", "no spend model"]),
    "report without calibration end": (["report", "tx.csv", "--out", "r.html"], ["--calibration-end is required"]),
    "unknown purchase model": (["forecast", "tx.csv", "--out", "o.csv", "--model", "nosuchmodel"],
                               ["--model", "'nosuchmodel'", "bgnbd"]),
    "compare without calibration end": (["compare", "tx.csv"], ["--calibration-end is required"]),
    "compare unknown model": (["compare", "tx.csv", "--calibration-end", "2020-02-01", "--models", "bgnbd,nope"],
                              ["--models", "'nope' is not a purchase model", "bgnbd"]),
    "compare a model twice": (["compare", "tx.csv", "--calibration-end", "2020-02-01", "--models", "bgnbd,bgnbd"],
                              ["--models", "twice"]),
    "report unknown compared model": (["report", "tx.csv", "--out", "r.html", "--calibration-end", "2020-02-01",
                                       "--compare", "nope"], ["--compare", "'nope'"]),
    "id column named like an output": (["forecast", "tx.csv", "--out", "o.csv", "--customer-col", "clv"],
                                       ["--customer-col 'clv'"]),
}


def check_one_line_error(returncode, stderr, must_contain, quiet):
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and errors[0] == lines[-1], stderr
    if quiet:
        assert len(lines) == 1, stderr
    for text in must_contain:
        assert text in errors[0], (text, errors[0])


def run_script_errors(folder):
    write_inputs(folder)
    names = list(SCRIPT_ERRORS)
    return dict(zip(names, map(as_record, run_all([SCRIPT_ERRORS[name][0] for name in names], cwd=folder))))


@pytest.fixture(scope="module")
def script_error_runs(tmp_path_factory):
    return once_per_session(tmp_path_factory, "cli_errors", run_script_errors)


@pytest.mark.parametrize("case", list(SCRIPT_ERRORS))
def test_user_errors_exit_2_with_one_line(script_error_runs, case):
    folder, results = script_error_runs
    args, must_contain = SCRIPT_ERRORS[case]
    check_one_line_error(results[case]["returncode"], results[case]["stderr"], must_contain, "--quiet" in args)
    assert not (folder / "o.csv").exists()


@pytest.mark.parametrize("case", list(MAIN_ERRORS))
def test_more_user_errors_in_process(tmp_path, monkeypatch, capsys, case):
    write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    args, must_contain = MAIN_ERRORS[case]
    status = cli.main(args)
    check_one_line_error(status, capsys.readouterr().err, must_contain, "--quiet" in args)
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("change, problem", [
    (lambda b: b.update(format="clvmodels-model"), "single model"),
    (lambda b: b.update(format_version=99), "newer clvmodels"),
    (lambda b: b["transaction_model"].update(model="NoSuchModel"), "unknown model 'NoSuchModel'"),
    (lambda b: b["transaction_model"]["params"].pop("alpha"), "transaction_model"),
    (lambda b: b["transaction_model"]["params"].update(alpha=-1.0), "parameter 'alpha'"),
    (lambda b: b["settings"].update(horizon=0), "settings"),
    (lambda b: b["settings"].update(time_unit="D"), "differs from the model's 'W'"),
    (lambda b: b["settings"].pop("margin"), "'margin'"),
    (lambda b: b.update(spend_model=b["transaction_model"]), "cannot serve as spend model"),
    (lambda b: b["settings"].update(model="nosuchmodel"), "settings model 'nosuchmodel' differs"),
])
def test_invalid_model_files_are_named(tmp_path, monkeypatch, capsys, change, problem):
    bundle = write_inputs(tmp_path)
    change(bundle)
    (tmp_path / "model.json").write_text(json.dumps(bundle))
    monkeypatch.chdir(tmp_path)
    status = cli.main(["predict", "tx.csv", "--model", "model.json", "--out", "o.csv"])
    err = capsys.readouterr().err
    check_one_line_error(status, err, ["model.json: invalid model file", problem], quiet=True)


def test_customers_after_observation_end_are_left_out_with_a_warning(tmp_path, monkeypatch, capsys, cdnow):
    monkeypatch.chdir(tmp_path)
    status = cli.main(["forecast", "--dataset", "cdnow", "--observation-end", "1997-03-15", "--out", "o.csv", "-q"])
    assert status == 0
    scored = clv.rfm_summary(cdnow, time_unit="W", observation_end="1997-03-15")
    left_out = N_CUSTOMERS - len(scored)
    assert 0 < left_out < N_CUSTOMERS
    assert capsys.readouterr().err == (
        f"clvmodels: warning: {left_out:,} customers of --dataset cdnow first bought after the observation end "
        "1997-03-15: not scored, not in the output\n"
    )
    assert pd.read_csv("o.csv")["customer_id"].tolist() == scored.index.tolist()


def test_predict_options_override_the_model_file(forecasts, expected, tmp_path, monkeypatch):
    """The model file's settings are defaults: --horizon 6 forecasts 6 months with the same fit."""
    out, _ = forecasts
    monkeypatch.chdir(tmp_path)
    status = cli.main(["predict", "--dataset", "cdnow", "--model", str(out / "model.json"), "--out", "six.parquet",
                       "--horizon", "6", "-q"])
    assert status == 0
    six = pd.read_parquet("six.parquet").set_index("customer_id")
    bundle = json.loads((out / "model.json").read_text())
    bg = clv.BetaGeoModel.from_dict(bundle["transaction_model"])
    want = bg.expected_purchases(expected, t=6 * period_length("M", "W"))
    np.testing.assert_allclose(six["expected_purchases"], want, rtol=1e-12)
    np.testing.assert_allclose(six["probability_alive"], expected["probability_alive"], rtol=1e-9)
    assert (six["clv"] < expected["clv"] + 1e-9).all() and six["clv"].sum() < 0.6 * expected["clv"].sum()


def test_parquet_without_pyarrow_says_what_to_install(files, tmp_path, monkeypatch, capsys):
    """A pyarrow that cannot be imported (as if not installed) -> exit 2 naming the extra."""
    fake = tmp_path / "fake"
    (fake / "pyarrow").mkdir(parents=True)
    (fake / "pyarrow" / "__init__.py").write_text("raise ImportError('No module named pyarrow (test)')\n")
    result = run("forecast", files / "cdnow.parquet", "--out", tmp_path / "o.csv", "--quiet",
                 env={"PYTHONPATH": str(fake)})
    check_one_line_error(result.returncode, result.stderr, ["cdnow.parquet", "pip install 'clvmodels[parquet]'"],
                         quiet=True)
    # Writing Parquet: the same, checked before any work is done.
    monkeypatch.setattr(_io, "_have_pyarrow", lambda: False)
    status = cli.main(["forecast", str(files / "cdnow.csv"), "--out", str(tmp_path / "o.parquet")])
    check_one_line_error(status, capsys.readouterr().err, ["o.parquet", "pip install 'clvmodels[parquet]'"],
                         quiet=True)


def test_without_amounts_purchases_only(files, tmp_path, monkeypatch, capsys):
    """No --amount-col: BG/NBD alone; no monetary_value, expected_spend or clv columns."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["forecast", str(files / "cdnow.csv"), "--out", "o.parquet", "--time-unit", "W", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # --quiet
    assert "Forecast: 23,570 customers" in captured.out and "Gamma-Gamma" not in captured.out
    table = pd.read_parquet("o.parquet")
    assert list(table.columns) == ["customer_id", "frequency", "recency", "T", "probability_alive",
                                   "expected_purchases", "segment"]
    assert len(table) == N_CUSTOMERS


def test_report_passes_settings_and_writes_atomically(tmp_path, monkeypatch, capsys):
    """`report` hands the data and settings to validation_report (stubbed here: the report
    itself is tested in test_report.py) and moves its file into place only when done."""
    import clvmodels.report

    calls = []

    def fake_report(transactions, path, **options):
        calls.append((len(transactions), Path(path), options))
        Path(path).write_text("<html>report</html>")
        return Path(path)

    monkeypatch.setattr(clvmodels.report, "validation_report", fake_report)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report", "--dataset", "cdnow", "--out", "r.html", "--horizon", "6"]) == 0
    rows, written, options = calls[0]
    assert rows == 69_659 and written.parent == tmp_path and written.name != "r.html"
    assert options["calibration_end"] == "1997-09-30" and options["observation_end"] == "1998-06-30"
    assert (options["time_unit"], options["amount_col"], options["horizon"], options["period"]) == ("W", "amount", 6, "M")
    assert (tmp_path / "r.html").read_text() == "<html>report</html>"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
    assert "r.html" in capsys.readouterr().err.strip().splitlines()[-1]


# ----- the CSV writer: pandas' bytes, faster ------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=60))
def test_csv_floats_are_written_as_pandas_writes_them(values):
    table = pd.DataFrame({"x": values, "y": values[::-1]})
    buffer = io.BytesIO()
    _io._write_csv(table, buffer)
    assert buffer.getvalue() == table.to_csv(index=False, lineterminator="\n").encode()
    assert np.array_equal(pd.read_csv(io.BytesIO(buffer.getvalue()))["x"].to_numpy(), np.array(values, float),
                          equal_nan=True)  # shortest round-trip digits: full precision


def test_csv_writer_text_columns_and_edge_values():
    rng = np.random.default_rng(3)
    n = 5_000
    values = np.concatenate([10.0 ** rng.uniform(-12, 20, n) * rng.choice([-1, 1], n), rng.random(n),
                             [0.0, -0.0, 1e-4, 9.999999999999999e-05, 1e10, 9999999999.999998, 1e16, 5e-324]])
    m = len(values)
    table = pd.DataFrame({
        "id": pd.Series(rng.choice(["00001", 'a,"b"', "c\nd", "x"], m), dtype="str"),
        "n": np.arange(m, dtype=np.int64) - 10,
        "x": values,
        "segment": pd.Categorical(rng.choice(["active", "at risk", None], m)),
    })
    buffer = io.BytesIO()
    _io._write_csv(table, buffer)
    assert buffer.getvalue() == table.to_csv(index=False, lineterminator="\n").encode()


def test_plain_integer_ids_become_int64_others_stay_text():
    as_text = lambda values: pd.Series(values, dtype="str")  # noqa: E731
    assert _io.integer_ids(as_text(["1", "20", "3"])).tolist() == [1, 20, 3]
    for values in (["1", "007"], ["1", "-2"], ["1", "2.0"], ["a1"], ["123456789012345678901"]):
        assert _io.integer_ids(as_text(values)).tolist() == values


def test_forecast_with_intervals(tmp_path, monkeypatch, cdnow_sample):
    monkeypatch.chdir(tmp_path)
    cdnow_sample.to_csv("tx.csv", index=False)
    status = cli.main(["forecast", "tx.csv", "--amount-col", "amount", "--time-unit", "W", "--observation-end",
                       "1997-09-30", "--horizon", "9", "--interval", "0.8", "--out", "o.csv", "-q"])
    assert status == 0
    table = pd.read_csv("o.csv").set_index("customer_id")
    rfm = clv.rfm_summary(cdnow_sample, amount_col="amount", time_unit="W", observation_end="1997-09-30")
    bg, gg = clv.BetaGeoModel().fit(rfm), clv.GammaGammaModel().fit(rfm)
    step = 365.25 / 12 / 7
    quantiles = bg.purchases_interval(rfm, t=9 * step, level=0.8)
    for column in ("lower", "median", "upper"):
        np.testing.assert_array_equal(table[f"purchases_{column}"].to_numpy(), quantiles[column].to_numpy())
    value = clv.customer_lifetime_value(bg, gg, rfm, horizon=9, period="M", discount_rate=0.01, interval=0.8)
    np.testing.assert_allclose(table["clv_lower"], value["lower"], rtol=1e-9)
    np.testing.assert_allclose(table["clv_upper"], value["upper"], rtol=1e-9)
    assert cli.main(["forecast", "tx.csv", "--interval", "1.5", "--out", "p.csv"]) == 2
    assert not (tmp_path / "p.csv").exists()


# ----- choosing the purchase model: --model, the model file, compare, report options ----------------
# The purchase models of continuous-time RFM data (discrete-time ones such as BG/BB take n_periods).
PURCHASE_MODELS = sorted(key for key, cls in clv.registered_models("transaction").items()
                         if set(cls.rfm_columns) <= {"frequency", "recency", "T"})
CONTINUOUS = {key: clv.registered_models("transaction")[key] for key in PURCHASE_MODELS}


@pytest.mark.parametrize("key", PURCHASE_MODELS)
def test_model_option_fits_records_and_restores_each_registered_model(key, files, cdnow, tmp_path, monkeypatch,
                                                                      capsys):
    """fit --model KEY writes a bundle naming the model; predict restores it and scores as the Python API."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["fit", "--dataset", "cdnow", "--model", key, "--model-out", "m.json", "-q"]) == 0
    cls = CONTINUOUS[key]
    assert f"{cls.title} ({cls.__name__}) — summary" in capsys.readouterr().out
    bundle = json.loads(Path("m.json").read_text())
    assert bundle["settings"]["model"] == key and bundle["transaction_model"]["model"] == cls.__name__
    assert cli.main(["predict", "--dataset", "cdnow", "--model", "m.json", "--out", "p.parquet", "-q"]) == 0
    rfm = clv.rfm_summary(cdnow, "customer_id", "date", "amount", time_unit="W")
    model = cls().fit(rfm)
    scored = pd.read_parquet("p.parquet").set_index("customer_id")
    np.testing.assert_allclose(scored["probability_alive"], model.probability_alive(rfm), rtol=1e-6)
    np.testing.assert_allclose(scored["expected_purchases"],
                               model.expected_purchases(rfm, t=12 * period_length("M", "W")), rtol=1e-6)
    # forecast --model KEY gives the same scores in one go.
    assert cli.main(["forecast", "--dataset", "cdnow", "--model", key, "--out", "f.parquet", "-q"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet("f.parquet"), pd.read_parquet("p.parquet"))


def test_model_files_written_before_the_model_option_still_load(tmp_path, monkeypatch):
    bundle = write_inputs(tmp_path)
    assert "model" not in bundle["settings"]
    monkeypatch.chdir(tmp_path)
    assert cli.main(["predict", "tx.csv", "--model", "model.json", "--out", "o.csv", "--time-unit", "W", "-q"]) == 0
    assert len(pd.read_csv("o.csv")) == 3


def test_model_option_lists_the_registry(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"purchase model: {', '.join(PURCHASE_MODELS)} (default bgnbd)" in text
    discrete = sorted(k for k, c in clv.registered_models("transaction").items() if k not in PURCHASE_MODELS)
    assert f"discrete-time: {', '.join(discrete)}" in text
    assert f"contractual: {', '.join(sorted(clv.registered_models('contractual')))}" in text


def test_compare_prints_the_table_and_writes_it(cdnow, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    keys = ",".join(PURCHASE_MODELS)
    assert cli.main(["compare", "--dataset", "cdnow", "--models", keys, "--out", "c.csv", "-q"]) == 0
    out = capsys.readouterr().out
    split = clv.calibration_holdout_split(cdnow, time_unit="W", calibration_end="1997-09-30",
                                          observation_end="1998-06-30")
    models = [CONTINUOUS[k]().fit(split) for k in PURCHASE_MODELS]
    want = clv.evaluation.compare_models(models, split)
    assert out.startswith("Model comparison: 23,570 customers, calibration to 1997-09-30, holdout to 1998-06-30")
    for label, row in want.iterrows():
        line = next(line for line in out.splitlines() if line.startswith(label + " "))
        assert f"{row['log_likelihood']:,.4f}" in line
        marked = [c for c, best in want.attrs["best"].items() if best == label]
        assert line.count("*") == len(marked)
    written = pd.read_csv("c.csv")
    assert written["model"].tolist() == want.index.tolist()
    np.testing.assert_allclose(written["aic"], want["aic"], rtol=1e-12)
    for label, best in zip(written["model"], written["best"].fillna("")):
        assert set(best.split()) == {c for c, b in want.attrs["best"].items() if b == label}


def test_compare_defaults_to_every_registered_model(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compare", "--dataset", "cdnow", "-q"]) == 0
    out = capsys.readouterr().out
    for cls in CONTINUOUS.values():
        assert any(line.startswith(cls.title + " ") for line in out.splitlines()), cls.title
    assert not list(tmp_path.iterdir())  # no --out, no file


def test_report_passes_model_compare_currency_and_source(tmp_path, monkeypatch):
    import clvmodels.report

    calls = []

    def fake_report(transactions, path, **options):
        calls.append(options)
        Path(path).write_text("<html>report</html>")
        return Path(path)

    monkeypatch.setattr(clvmodels.report, "validation_report", fake_report)
    monkeypatch.chdir(tmp_path)
    key = PURCHASE_MODELS[-1]
    assert cli.main(["report", "--dataset", "cdnow", "--out", "r.html", "--model", key, "--compare",
                     ",".join(PURCHASE_MODELS), "--currency", "USD", "-q"]) == 0
    assert cli.main(["report", "--dataset", "cdnow", "--out", "s.html", "-q"]) == 0
    chosen, default = calls
    assert (chosen["model"], chosen["compare"], chosen["currency"]) == (key, PURCHASE_MODELS, "USD")
    assert chosen["data_source"] == "--dataset cdnow"
    assert (default["model"], default["compare"], default["currency"]) == ("bgnbd", None, None)


def test_compare_refuses_discrete_time_models_and_mixtures(tmp_path, monkeypatch, capsys):
    """compare fits models of one kind on the same data: BG/BB (n_periods) has its own report;
    contractual models are compared on subscription tables (tests/test_cli_periods.py), never
    beside purchase models."""
    write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    contractual = sorted(clv.registered_models("contractual"))
    discrete = [k for k in clv.registered_models("transaction") if k not in PURCHASE_MODELS]
    assert discrete and contractual
    for key in discrete:
        status = cli.main(["compare", "tx.csv", "--calibration-end", "2020-02-01", "--models", key, "--out", "o.csv"])
        check_one_line_error(status, capsys.readouterr().err, ["--models", f"'{key}'", "report --model"], quiet=True)
    status = cli.main(["compare", "tx.csv", "--calibration-end", "2020-02-01", "--models",
                       f"{PURCHASE_MODELS[0]},{contractual[0]}", "--out", "o.csv"])
    check_one_line_error(status, capsys.readouterr().err, ["--models", "mixes"], quiet=True)
    assert not (tmp_path / "o.csv").exists()
