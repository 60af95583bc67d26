"""Files people actually have, and files a hostile user gives (issue 14).

Tab- and semicolon-separated exports, decimal commas, byte-order marks, epoch dates,
ambiguous day/month text; model files with wrong types, huge numbers, deep nesting,
binary content; missing extras and absurd horizons. Each is read as meant or refused
with exit status 2, one line naming the file, and nothing written.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import cli

SCRIPT = Path(sys.executable).with_name("clvmodels")
SAMPLE = clv.datasets.load_cdnow(sample=True)[["customer_id", "date", "amount"]]
ISO = SAMPLE.assign(date=SAMPLE["date"].dt.strftime("%Y-%m-%d"))


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0] and "Traceback" not in err
    return lines[0]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ISO.to_csv(tmp_path / "tx.csv", index=False)
    return tmp_path


def forecast(*args):
    return cli.main(["forecast", *map(str, args), "--amount-col", "amount", "--time-unit", "W", "-q"])


@pytest.fixture
def reference(folder):
    assert forecast("tx.csv", "--out", "ref.csv") == 0
    return (folder / "ref.csv").read_bytes()


@pytest.mark.parametrize("sep", ["tab", "\\t", "\t", "TAB"])
def test_tab_separated_with_every_spelling_of_tab(folder, reference, sep):
    ISO.to_csv(folder / "tx.tab.csv", index=False, sep="\t")
    assert forecast("tx.tab.csv", "--sep", sep, "--out", "o.csv") == 0
    assert (folder / "o.csv").read_bytes() == reference


def test_european_export_semicolons_and_decimal_commas(folder, reference, capsys):
    text = ISO.to_csv(index=False, sep=";", decimal=",")
    assert "," in text  # the amounts have decimal commas
    (folder / "eu.csv").write_text(text)
    assert forecast("eu.csv", "--sep", ";", "--decimal", ",", "--out", "o.csv") == 0
    assert (folder / "o.csv").read_bytes() == reference
    # Without --decimal the amounts are text: the error says what to pass.
    assert forecast("eu.csv", "--sep", ";", "--out", "o2.csv") == 2
    line = one_error_line(capsys.readouterr().err)
    assert "eu.csv" in line and "column 'amount'" in line and "--decimal ','" in line
    # A decimal comma with the comma as separator cannot work: said up front.
    assert forecast("tx.csv", "--decimal", ",", "--out", "o3.csv") == 2
    assert "--decimal ','" in one_error_line(capsys.readouterr().err) and not (folder / "o3.csv").exists()


@pytest.mark.parametrize("sep, word, option", [("\t", "tab", "--sep tab"), (";", "semicolon", "--sep ';'")])
def test_separated_file_named_csv_is_diagnosed(folder, capsys, sep, word, option):
    ISO.to_csv(folder / "export.csv", index=False, sep=sep)
    assert forecast("export.csv", "--out", "o.csv") == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"looks {word}-separated" in line and option in line and "not a text CSV" not in line
    assert not (folder / "o.csv").exists()


def test_byte_order_mark_is_ignored(folder, reference):
    (folder / "bom.csv").write_bytes(b"\xef\xbb\xbf" + (folder / "tx.csv").read_bytes())
    assert forecast("bom.csv", "--out", "o.csv") == 0
    assert (folder / "o.csv").read_bytes() == reference


def test_epoch_dates_with_date_unit(folder, reference, capsys):
    seconds = (pd.to_datetime(ISO["date"]) - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
    ISO.assign(date=seconds).to_csv(folder / "epoch.csv", index=False)
    ISO.assign(date=seconds * 1000).to_csv(folder / "epoch_ms.csv", index=False)
    assert forecast("epoch.csv", "--date-unit", "s", "--out", "o.csv") == 0
    assert forecast("epoch_ms.csv", "--date-unit", "ms", "--out", "o_ms.csv") == 0
    assert (folder / "o.csv").read_bytes() == reference == (folder / "o_ms.csv").read_bytes()
    assert forecast("epoch.csv", "--out", "bad.csv") == 2
    assert "--date-unit s" in one_error_line(capsys.readouterr().err)
    assert forecast("epoch_ms.csv", "--date-unit", "s", "--out", "bad.csv") == 2
    assert "milliseconds" in one_error_line(capsys.readouterr().err) and not (folder / "bad.csv").exists()


def test_ambiguous_day_month_needs_date_format(folder, capsys):
    day_first = ISO.assign(date=pd.to_datetime(ISO["date"]).dt.strftime("%d/%m/%Y"))
    only_small_days = day_first[pd.to_datetime(ISO["date"]).dt.day <= 12]
    only_small_days.to_csv(folder / "dmy.csv", index=False)
    assert forecast("dmy.csv", "--out", "o.csv") == 2
    line = one_error_line(capsys.readouterr().err)
    assert "ambiguous" in line and "--date-format" in line and not (folder / "o.csv").exists()
    assert forecast("dmy.csv", "--date-format", "%d/%m/%Y", "--out", "o.csv") == 0
    assert cli.main(["forecast", "tx.csv", "--out", "o2.csv", "--observation-end", "01/02/1998", "-q"]) == 2
    assert "--observation-end" in one_error_line(capsys.readouterr().err)


def test_timezone_option_counts_days_in_that_zone(folder):
    # Purchases at 23:30 UTC fall on the next day in Tokyo: the recency changes by at most a day.
    stamps = pd.to_datetime(ISO["date"]) + pd.Timedelta("23h30min")
    seconds = (stamps - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
    ISO.assign(date=seconds).to_csv(folder / "epoch.csv", index=False)
    common = ["--date-unit", "s", "--time-unit", "D", "--amount-col", "amount", "-q"]
    assert cli.main(["forecast", "epoch.csv", "--out", "utc.csv", *common]) == 0
    assert cli.main(["forecast", "epoch.csv", "--out", "tokyo.csv", "--timezone", "Asia/Tokyo", *common]) == 0
    utc, tokyo = pd.read_csv(folder / "utc.csv"), pd.read_csv(folder / "tokyo.csv")
    np.testing.assert_array_equal(utc["recency"], tokyo["recency"])  # every date moves by one day
    assert cli.main(["forecast", "epoch.csv", "--out", "x.csv", "--timezone", "Mars/Olympus", *common]) == 2


@pytest.mark.parametrize("name, content, message", [
    ("header_only.csv", "customer_id,date,amount\n", "empty (0 rows)"),
    ("empty.csv", "", "empty"),
    ("utf16.csv", "customer_id,date,amount\n1,2020-01-01,5\n".encode("utf-16"), "not UTF-8"),
    ("latin1.csv", "customer_id,date,amount\n1,2020-01-01,5\ncaf\xe9,2020-01-02,6\n".encode("latin-1"), "iconv -f latin1"),
    ("repeated.csv", "customer_id,date,amount,amount\n1,2020-01-01,5,6\n", "'amount' (2 times)"),
    ("folder.csv", None, "is a directory"),
])
def test_hostile_transaction_files_exit_2(folder, capsys, name, content, message):
    if content is None:
        (folder / name).mkdir()
    elif isinstance(content, bytes):
        (folder / name).write_bytes(content)
    else:
        (folder / name).write_text(content)
    assert forecast(name, "--out", "o.csv") == 2
    line = one_error_line(capsys.readouterr().err)
    assert name in line and message in line
    assert not (folder / "o.csv").exists()


# ----- model files --------------------------------------------------------------------------
@pytest.fixture
def bundle(folder):
    assert cli.main(["fit", "tx.csv", "--model-out", "model.json", "--amount-col", "amount", "--time-unit", "W", "-q"]) == 0
    return json.loads((folder / "model.json").read_text())


def _set(path, value):
    def change(record):
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


BROKEN_BUNDLES = {
    "format_version 1.0": (_set(["format_version"], 1.0), "'format_version' must be a whole number"),
    "format_version '1'": (_set(["format_version"], "1"), "'format_version' must be a whole number"),
    "parameter as text": (_set(["transaction_model", "params", "r"], "0.24"), "parameter 'r' must be a number"),
    "parameter true": (_set(["transaction_model", "params", "a"], True), "parameter 'a' must be a number"),
    "huge parameter": (_set(["transaction_model", "params", "alpha"], 10**400), "parameter 'alpha'"),
    "unknown time unit": (_set(["transaction_model", "time_unit"], "fortnight"), "time_unit 'fortnight'"),
    "params a list": (_set(["transaction_model", "params"], [1, 2, 3, 4]), "'params' must be a mapping"),
    "model name a list": (_set(["transaction_model", "model"], ["BetaGeoModel"]), "unknown model"),
    "covariance wrong shape": (_set(["spend_model", "covariance_log_params"], [[1.0]]), "covariance_log_params"),
    "settings horizon text": (_set(["settings", "horizon"], "twelve"), "settings 'horizon'"),
    "settings penalizer true": (_set(["settings", "penalizer"], True), "settings 'penalizer'"),
    "settings huge horizon": (_set(["settings", "horizon"], 10**9), "--horizon"),
    "settings bad date unit": (_set(["settings", "date_unit"], "fortnights"), "date_unit"),
    "log-likelihood text": (_set(["transaction_model", "log_likelihood"], "high"), "'log_likelihood'"),
}


@pytest.mark.parametrize("case", list(BROKEN_BUNDLES))
def test_broken_model_file_exit_2_before_any_output(folder, bundle, capsys, case):
    change, message = BROKEN_BUNDLES[case]
    change(bundle)
    text = json.dumps(bundle)
    (folder / "model.json").write_text(text)
    status = cli.main(["predict", "tx.csv", "--model", "model.json", "--out", "o.csv", "-q"])
    line = one_error_line(capsys.readouterr().err)
    assert status == 2
    assert "model.json" in line and message in line, line
    assert not (folder / "o.csv").exists()


@pytest.mark.parametrize("name, content, message", [
    ("nested.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("binary.json", bytes(range(256)) * 4, "binary content"),
    ("latin1.json", '{"format": "caf\xe9"}'.encode("latin-1"), "not UTF-8"),
    ("digits.json", '{"format": ' + "9" * 5000 + "}", "not valid JSON"),
    ("blank.json", "   \n", "empty"),
    ("folder.json", None, "is a directory"),
])
def test_unreadable_model_files_name_the_file(folder, capsys, name, content, message):
    path = folder / name
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    status = cli.main(["predict", "tx.csv", "--model", name, "--out", "o.csv", "-q"])
    line = one_error_line(capsys.readouterr().err)
    assert status == 2 and name in line and message in line, line
    assert not (folder / "o.csv").exists()
    with pytest.raises(ValueError, match=message) as error:
        clv.load_model(path)
    assert name in str(error.value)


@pytest.mark.parametrize("change, message", [
    (_set(["format_version"], 1.0), "'format_version' must be a whole number such as 1, got 1.0"),
    (_set(["format_version"], "1"), "got '1' (text)"),
    (_set(["params", "r"], "0.24"), "parameter 'r' must be a number, got '0.24' (text)"),
    (_set(["params", "b"], float("nan")), "parameter 'b' must be a finite number > 0"),
    (_set(["params", "alpha"], 10**400), "parameter 'alpha' must be a finite number"),
    (_set(["time_unit"], "fortnight"), "time_unit 'fortnight' is not supported"),
    (_set(["time_unit"], 7), "'time_unit' must be a unit code"),
    (_set(["settings"], {"penalizer": "0.1"}), "setting 'penalizer' must be a finite number"),
    (_set(["settings"], {"penalty": 0.1}), "unknown setting 'penalty'"),
    (_set(["settings"], {"penalizer": -1.0}), "setting 'penalizer' must be a finite number >= 0"),
    (_set(["n_customers"], -5), "'n_customers' must be >= 0"),
    (_set(["metadata"], [1, 2]), "'metadata' must be a mapping"),
    (_set(["covariance_log_params"], [[1, 2], [3, 4]]), "4 x 4 table"),
])
def test_load_model_checks_every_entry(tmp_path, change, message):
    model = clv.BetaGeoModel().fit(clv.rfm_summary(SAMPLE, time_unit="W"))
    record = model.to_dict()
    change(record)
    path = tmp_path / "bg.json"
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError) as error:
        clv.load_model(path)
    assert str(path) in str(error.value) and message in str(error.value), str(error.value)


# ----- extras and horizons ------------------------------------------------------------------
def test_missing_matplotlib_is_exit_2_with_the_install_command(tmp_path):
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('No module named matplotlib (test)')\n")
    result = subprocess.run(
        [str(SCRIPT), "report", "--dataset", "cdnow", "--out", str(tmp_path / "r.html"), "-q"],
        capture_output=True, text=True, timeout=300, env={"PYTHONPATH": os.pathsep.join(filter(None, [str(fake), os.environ.get("PYTHONPATH")])), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'clvmodels[plot]'" in one_error_line(result.stderr)
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("args, message", [
    (["--horizon", "1000000000"], "--horizon 1,000,000,000"),
    (["--period", "400000", "--time-unit", "D"], None),  # 1,095 years per period
    (["--period", "Y", "--horizon", "5000"], "5,000 years"),
    (["--period", "1e300"], "--period"),
])
def test_absurd_horizons_refused_up_front(folder, capsys, args, message):
    status = cli.main(["forecast", "tx.csv", "--out", "o.csv", *args, "-q"])
    line = one_error_line(capsys.readouterr().err)
    assert status == 2 and "years" in line or "periods" in line
    if message:
        assert message in line
    assert not (folder / "o.csv").exists()


def test_pipe_or_stdin_as_transactions_is_refused_not_waited_on(folder, capsys):
    import os

    os.mkfifo(folder / "stream.csv")  # opening it would block for ever without a writer
    assert forecast("stream.csv", "--out", "o.csv") == 2
    assert "not a regular file" in one_error_line(capsys.readouterr().err)
    assert forecast("/dev/stdin", "--out", "o.csv") == 2
    assert "unknown file type" in one_error_line(capsys.readouterr().err)
    assert not (folder / "o.csv").exists()


def test_blanks_after_separators_and_around_ids_are_not_new_customers(folder, reference):
    """"1, 1997-01-01, 29.33" (a comma and a blank) and " 17" beside "17" read as the
    plain file: padded ids must not split a customer in two."""
    text = (folder / "tx.csv").read_text()
    (folder / "spaced.csv").write_text(text.replace(",", ", "))
    assert forecast("spaced.csv", "--out", "o.csv") == 0
    assert (folder / "o.csv").read_bytes() == reference
    lines = text.splitlines()
    padded = [lines[0]] + [f" {line}" if i % 2 else line.replace(",", " ,", 1) for i, line in enumerate(lines[1:])]
    (folder / "padded.csv").write_text("\n".join(padded) + "\n")
    assert forecast("padded.csv", "--out", "o2.csv") == 0
    assert (folder / "o2.csv").read_bytes() == reference


def test_a_row_dated_far_in_the_future_is_named_on_stderr(folder, capsys):
    """One 2030 row among 1997-98 data sets the default observation end: the command says so."""
    future = ISO.copy()
    future.loc[5, "date"] = "2030-01-01"
    future.to_csv(folder / "future.csv", index=False)
    assert cli.main(["forecast", "future.csv", "--out", "o.csv", "--time-unit", "W", "-q"]) == 0
    err = capsys.readouterr().err
    customer = future.loc[5, "customer_id"]
    assert err.startswith("clvmodels: warning: 1 row is dated far past the rest of the data (which ends on 1998-06-30)")
    assert f"customer {customer} on 2030-01-01" in err
    assert cli.main(["forecast", "future.csv", "--out", "o.csv", "--time-unit", "W", "-q",
                     "--observation-end", "1998-06-30"]) == 0
    assert capsys.readouterr().err == ""
