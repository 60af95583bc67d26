"""The command never destroys input and never writes a forecast it should not.

Issue 14 ("Nothing silent"): an output that is an input (by path, symbolic link or
hard link) or another output is refused with exit 2 before anything is written; no
option is taken for an abbreviation of another; a forecast with no rows or a NaN
prediction is not written.
"""

import json
import os

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import cli

SAMPLE = clv.datasets.load_cdnow(sample=True)[["customer_id", "date", "amount"]]
GOOD = SAMPLE.assign(date=SAMPLE["date"].dt.strftime("%Y-%m-%d")).to_csv(index=False)
N_CUSTOMERS = SAMPLE["customer_id"].nunique()


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0] and "Traceback" not in err
    return lines[0]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tx.csv").write_text(GOOD)
    return tmp_path


def snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def fitted_bundle(folder):
    assert cli.main(["fit", "tx.csv", "--model-out", "model.json", "--amount-col", "amount", "--time-unit", "W", "-q"]) == 0
    return folder / "model.json"


def test_forecast_out_same_path_as_transactions_is_refused(folder, capsys):
    before = snapshot(folder)
    status = cli.main(["forecast", "tx.csv", "--out", "tx.csv", "-q"])
    line = one_error_line(capsys.readouterr().err)
    assert status == 2
    assert "--out" in line and "TRANSACTIONS" in line and "tx.csv" in line
    assert snapshot(folder) == before


@pytest.mark.parametrize("how", ["symlink", "hardlink", "dotted path", "absolute path"])
def test_out_reaching_the_input_another_way_is_refused(folder, capsys, how):
    if how == "symlink":
        os.symlink(folder / "tx.csv", folder / "link.csv")
        out = "link.csv"
    elif how == "hardlink":
        os.link(folder / "tx.csv", folder / "hard.csv")
        out = "hard.csv"
    elif how == "dotted path":
        (folder / "sub").mkdir()
        out = "sub/../tx.csv"
    else:
        out = str(folder / "tx.csv")
    before = snapshot(folder)
    status = cli.main(["forecast", "tx.csv", "--out", out, "-q"])
    assert status == 2
    assert "same file" in one_error_line(capsys.readouterr().err)
    assert snapshot(folder) == before
    assert (folder / "tx.csv").read_text() == GOOD


def test_model_out_same_as_transactions_or_out_is_refused(folder, capsys):
    before = snapshot(folder)
    assert cli.main(["fit", "tx.csv", "--model-out", "tx.csv", "-q"]) == 2
    assert "--model-out" in one_error_line(capsys.readouterr().err)
    assert cli.main(["forecast", "tx.csv", "--out", "o.csv", "--model-out", "o.csv", "-q"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--model-out" in line and "--out" in line
    assert snapshot(folder) == before


def test_predict_out_same_as_model_file_is_refused(folder, capsys):
    model = fitted_bundle(folder)
    capsys.readouterr()
    saved = model.read_bytes()
    os.symlink(model, folder / "model-link.csv")
    for out in ("model.json", "model-link.csv"):
        # A model file with a .csv name would be a valid output name: the check is on the file.
        status = cli.main(["predict", "tx.csv", "--model", "model.json", "--out", out, "-q"])
        assert status == 2
        assert "--model" in one_error_line(capsys.readouterr().err)
    assert model.read_bytes() == saved
    status = cli.main(["predict", "tx.csv", "--model", "model.json", "--out", "tx.csv", "-q"])
    assert status == 2 and "TRANSACTIONS" in one_error_line(capsys.readouterr().err)
    assert (folder / "tx.csv").read_text() == GOOD


def test_report_out_same_as_transactions_is_refused(folder, capsys):
    (folder / "tx.html").write_text(GOOD)
    os.link(folder / "tx.csv", folder / "same.html")
    before = snapshot(folder)
    status = cli.main(["report", "tx.csv", "--calibration-end", "2020-02-01", "--out", "same.html", "-q"])
    assert status == 2 and "same file" in one_error_line(capsys.readouterr().err)
    assert snapshot(folder) == before


def test_output_symlink_keeps_pointing_at_the_replaced_file(folder):
    (folder / "real").mkdir()
    os.symlink(folder / "real" / "o.csv", folder / "o.csv")
    assert cli.main(["forecast", "tx.csv", "--out", "o.csv", "-q"]) == 0
    assert os.path.islink(folder / "o.csv")
    assert len(pd.read_csv(folder / "real" / "o.csv")) == N_CUSTOMERS


def test_output_that_is_a_pipe_or_device_is_refused(folder, capsys):
    """A FIFO (like /dev/null or /dev/stdout, which root's atomic replace would turn into a
    regular file) is refused; a FIFO in the test folder stands in for the device."""
    os.mkfifo(folder / "pipe.json")
    os.symlink(folder / "pipe.json", folder / "pipe-link.json")
    for out in ("pipe.json", "pipe-link.json"):
        status = cli.main(["fit", "tx.csv", "--model-out", out, "-q"])
        assert status == 2 and "not a regular file" in one_error_line(capsys.readouterr().err)
    assert not (folder / "pipe.json").is_file() and (folder / "pipe.json").exists()


def test_options_are_never_abbreviated(folder, capsys):
    """`--model pnbd` must not be read as `--model-out pnbd` (nor --hor as --horizon)."""
    parser = cli.build_parser()
    subparsers = parser._subparsers._group_actions[0].choices
    forecast_options = subparsers["forecast"]._option_string_actions
    if "--model" not in forecast_options:  # once forecast has a --model option, it is no abbreviation
        status = cli.main(["forecast", "tx.csv", "--out", "o.csv", "--model", "pnbd", "-q"])
        assert status == 2 and "--model" in one_error_line(capsys.readouterr().err)
    status = cli.main(["forecast", "tx.csv", "--out", "o.csv", "--model-ou", "pnbd", "-q"])
    assert status == 2 and "--model-ou" in one_error_line(capsys.readouterr().err)
    assert not (folder / "pnbd").exists() and not (folder / "o.csv").exists()
    status = cli.main(["forecast", "tx.csv", "--out", "o.csv", "--hor", "3", "-q"])
    assert status == 2 and "--hor" in one_error_line(capsys.readouterr().err)
    assert parser.allow_abbrev is False and all(sub.allow_abbrev is False for sub in subparsers.values())


def test_non_finite_forecast_is_not_written(folder, capsys, monkeypatch):
    def some_nan(self, data, t=1.0):
        values = np.ones(len(data))
        values[:2] = np.nan
        values[2] = np.inf
        return pd.Series(values, index=data.index)

    monkeypatch.setattr(clv.BetaGeoModel, "expected_purchases", some_nan)
    status = cli.main(["forecast", "tx.csv", "--out", "o.csv", "--model-out", "m.json", "-q"])
    err = capsys.readouterr().err
    assert status == 1
    assert f"column 'expected_purchases': 3 of {N_CUSTOMERS:,} rows are NaN or infinite" in err
    assert not (folder / "o.csv").exists() and not (folder / "m.json").exists()


def test_predict_with_parameters_giving_nan_writes_nothing(folder, capsys, monkeypatch):
    model = fitted_bundle(folder)
    capsys.readouterr()
    monkeypatch.setattr(clv.BetaGeoModel, "probability_alive", lambda self, data: pd.Series(np.nan, data.index))
    status = cli.main(["predict", "tx.csv", "--model", str(model), "--out", "o.parquet", "-q"])
    assert status == 1 and f"column 'probability_alive': {N_CUSTOMERS:,} of {N_CUSTOMERS:,} rows" in capsys.readouterr().err
    assert not (folder / "o.parquet").exists()


def test_empty_forecast_is_not_written():
    with pytest.raises(cli.UsageError, match="empty"):
        cli.check_forecast(pd.DataFrame({"clv": np.array([], dtype=float)}))
    cli.check_forecast(pd.DataFrame({"clv": [1.0], "segment": ["x"]}))  # finite: passes


def test_bundle_is_valid_json_after_refusals(folder):
    """A refused run leaves an existing model file exactly as it was."""
    model = fitted_bundle(folder)
    saved = json.loads(model.read_text())
    assert cli.main(["forecast", "tx.csv", "--out", "o.csv", "--model-out", "tx.csv", "-q"]) == 2
    assert json.loads(model.read_text()) == saved
