"""Covariates shown to people: the coefficient table (evaluation.covariate_table), the
report's section, the command line's 'fit' and 'report', and the first purchase amount
as a covariate (data.first_purchase_amount, data.customer_columns)."""

import html
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import clvmodels as clv
from clvmodels import cli, evaluation

pytest.importorskip("matplotlib")

CALIBRATION_END, OBSERVATION_END = "1997-09-30", "1998-06-30"
BOTH = {"purchase_covariates": ["log_first"], "dropout_covariates": ["log_first"]}


@pytest.fixture(scope="module")
def transactions(cdnow_sample):
    """The CDNOW sample with log(1 + first purchase amount) on every record of a customer."""
    tx = cdnow_sample.copy()
    first = clv.first_purchase_amount(tx, amount_col="amount")
    tx["log_first"] = np.log1p(tx["customer_id"].map(first))
    return tx


@pytest.fixture(scope="module")
def calibration(transactions):
    split = clv.calibration_holdout_split(transactions, amount_col="amount", time_unit="W",
                                         calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END)
    columns = clv.customer_columns(transactions, "customer_id", ["log_first"])
    split["log_first"] = columns["log_first"].reindex(split.index).to_numpy()
    return split


@pytest.fixture(scope="module")
def fitted(calibration):
    return clv.BetaGeoModel(**BOTH).fit(calibration)


@pytest.fixture(scope="module")
def table(fitted, calibration):
    return evaluation.covariate_table(fitted, calibration)


def test_first_purchase_amount_sums_the_first_day():
    tx = pd.DataFrame({
        "customer_id": [7, 7, 7, 3, 3, 9],
        "date": ["2020-01-05", "2020-01-05", "2020-02-01", "2020-03-01", "2020-01-02", "2020-01-01"],
        "amount": [10.0, 2.5, 99.0, 1.0, 4.0, 0.0],
    })
    first = clv.first_purchase_amount(tx)
    assert first.to_dict() == {3: 4.0, 7: 12.5, 9: 0.0}
    assert first.name == "first_purchase_amount"
    with pytest.raises(ValueError, match="amount_col"):
        clv.first_purchase_amount(tx, amount_col=None)
    with pytest.raises(ValueError, match="'amount'.*negative"):
        clv.first_purchase_amount(tx.assign(amount=-tx["amount"]))


def test_customer_columns_refuse_a_column_varying_within_customers(transactions):
    with pytest.raises(ValueError, match=r"column 'amount' varies within 1,132 customers"):
        clv.customer_columns(transactions, "customer_id", ["log_first", "amount"])
    with pytest.raises(ValueError, match="'nope'"):
        clv.customer_columns(transactions, "customer_id", ["nope"])


def test_covariate_table_numbers(fitted, calibration, table):
    summary = fitted.summary()
    names = list(fitted.coefficient_names)
    assert list(table.index) == names and len(names) == 3
    np.testing.assert_allclose(table["estimate"], summary.loc[names, "estimate"], rtol=1e-12)
    np.testing.assert_allclose(table["std_error"], summary.loc[names, "std_error"], rtol=1e-12)
    np.testing.assert_allclose(table["lower"], summary.loc[names, "lower_95"], rtol=1e-9)
    np.testing.assert_allclose(table["upper"], summary.loc[names, "upper_95"], rtol=1e-9)
    np.testing.assert_allclose(table["multiplier"], np.exp(table["estimate"]), rtol=1e-12)
    np.testing.assert_allclose(table["multiplier_lower"], np.exp(table["lower"]), rtol=1e-9)
    np.testing.assert_allclose(table["multiplier_upper"], np.exp(table["upper"]), rtol=1e-9)
    assert table.loc["purchase[log_first]", "meaning"].startswith("one unit more of log_first multiplies the purchase")
    plain = clv.BetaGeoModel().fit(calibration)
    test = table.attrs["likelihood_ratio"]
    assert test["df"] == 3
    assert test["statistic"] == pytest.approx(2 * (fitted.log_likelihood_ - plain.log_likelihood_), rel=1e-9)
    assert test["p_value"] == pytest.approx(stats.chi2.sf(test["statistic"], 3), rel=1e-9)
    # the richer model cannot fit worse; first purchase amount matters on CDNOW
    assert test["statistic"] > 0 and test["p_value"] < 1e-6
    assert evaluation.covariate_table(fitted, plain=plain).attrs["likelihood_ratio"] == test
    assert evaluation.covariate_table(fitted).attrs["likelihood_ratio"] is None
    assert evaluation.covariate_table(plain).empty
    with pytest.raises(ValueError, match="level"):
        evaluation.covariate_table(fitted, level=1.5)


def test_without_covariates_keeps_the_other_settings():
    model = clv.BetaGeoModel(penalizer=0.01, covariate_penalizer=0.5, **BOTH)
    plain = evaluation.without_covariates(model)
    assert type(plain) is clv.BetaGeoModel and plain.penalizer == 0.01 and plain.covariate_penalizer == 0.5
    assert plain.purchase_covariates == [] and plain.dropout_covariates == []


def _covariate_rows(document):
    section = document[document.index('<div id="covariates">'):]
    section = section[: section.index("</table>")]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)[1:]:
        rows.append([html.unescape(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)])
    return rows


def test_report_shows_the_computed_table(transactions, table, tmp_path):
    from clvmodels.report import validation_report

    with _no_figure_failures():
        path = validation_report(transactions, tmp_path / "r.html", amount_col="amount", calibration_end=CALIBRATION_END,
                                 observation_end=OBSERVATION_END, **BOTH)
    document = path.read_text()
    rows = _covariate_rows(document)
    assert [r[0] for r in rows] == list(table.index)
    for cells, (name, row) in zip(rows, table.iterrows()):
        shown = [float(c.replace(",", "")) for c in cells[2:9]]
        expected = row[["estimate", "std_error", "lower", "upper", "multiplier", "multiplier_lower",
                        "multiplier_upper"]].to_numpy(dtype=float)
        np.testing.assert_allclose(shown, expected, rtol=0, atol=5.01e-5)  # shown with 4 decimals
        assert cells[1] == "log_first" and cells[10] == row["meaning"]
    test = table.attrs["likelihood_ratio"]
    text = re.sub(r"<[^>]+>", "", document)
    match = re.search(r"statistic ([\d.,]+) on (\d+) degrees of freedom, p-value ([\d.e+-]+)", text)
    assert match, "the likelihood-ratio test is missing"
    assert float(match.group(1).replace(",", "")) == pytest.approx(test["statistic"], abs=5.01e-5)
    assert int(match.group(2)) == 3
    assert float(match.group(3)) == pytest.approx(test["p_value"], rel=5e-3)
    assert "purchase_covariates" in text  # in the settings table


class _no_figure_failures:
    """No figure of the report fails for a model with covariates."""

    def __enter__(self):
        import warnings

        self._catcher = warnings.catch_warnings(record=True)
        self._caught = self._catcher.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._catcher.__exit__(*exc)
        failed = [str(w.message) for w in self._caught if "figure not drawn" in str(w.message)]
        assert not failed, failed
        return False


def test_report_refuses_covariates_missing_from_the_transactions(cdnow_sample, tmp_path):
    from clvmodels.report import validation_report

    with pytest.raises(ValueError, match="log_first"):
        validation_report(cdnow_sample, tmp_path / "r.html", calibration_end=CALIBRATION_END, **BOTH)
    with pytest.raises(ValueError, match="list of column names"):
        validation_report(cdnow_sample, tmp_path / "r.html", calibration_end=CALIBRATION_END, purchase_covariates="x")
    with pytest.raises(ValueError, match="report of BG/BB takes no covariates"):
        validation_report(cdnow_sample, tmp_path / "r.html", model="bgbb", **BOTH)
    assert not (tmp_path / "r.html").exists()


def _simulated_file(path, n=600, seed=3):
    """A transaction CSV drawn from BG/NBD whose purchase rate and dropout depend on a
    customer-level covariate z (one value on every record of a customer)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    model = clv.BetaGeoModel.from_dict({
        "params": {"r": 0.5, "alpha": 4.0, "a": 0.8, "b": 2.5, "purchase[z]": 0.6, "dropout_a[z]": 0.3,
                   "dropout_b[z]": -0.2},
        "time_unit": "W", "settings": {"purchase_covariates": ["z"], "dropout_covariates": ["z"]},
    })
    T_days = rng.integers(60, 365, n)
    history = model.sample(T_days / 7.0, rng, covariates=pd.DataFrame({"z": z}))
    end = np.datetime64("2021-12-31")
    first = end - T_days.astype("timedelta64[D]")
    x = history["frequency"].to_numpy().astype(int)
    recency_days = np.floor(history["recency"].to_numpy() * 7).astype(int)
    customer = np.repeat(np.arange(n), 1 + x)
    offset = np.zeros(len(customer), dtype=int)
    repeat = np.ones(len(customer), dtype=bool)
    repeat[np.cumsum(1 + x) - (1 + x)] = False  # the first record of each customer
    offset[repeat] = np.floor(rng.uniform(1, 1 + recency_days[customer[repeat]])).astype(int)
    dates = first[customer] + offset.astype("timedelta64[D]")
    table = pd.DataFrame({"customer_id": customer + 1, "date": dates.astype(str),
                          "amount": np.round(rng.gamma(4, 8, len(customer)), 2), "z": z[customer]})
    table.to_csv(path, index=False)
    return table


def test_command_line_fit_and_report_with_covariates(tmp_path, capsys):
    path = tmp_path / "tx.csv"
    tx = _simulated_file(path)
    common = ["--customer-col", "customer_id", "--date-col", "date", "--amount-col", "amount", "--time-unit", "W",
              "--purchase-covariates", "z", "--dropout-covariates", "z", "--quiet"]
    assert cli.main(["fit", str(path), "--model-out", str(tmp_path / "m.json"), *common]) == 0
    printed = capsys.readouterr().out
    # the same table as evaluation.covariate_table on the same customers
    rfm = clv.rfm_summary(tx, amount_col="amount", time_unit="W")
    rfm["z"] = clv.customer_columns(tx, "customer_id", ["z"])["z"].reindex(rfm.index).to_numpy()
    model = clv.BetaGeoModel(purchase_covariates=["z"], dropout_covariates=["z"]).fit(rfm)
    expected = evaluation.covariate_table(model, rfm)
    assert evaluation.format_covariate_table(expected) in printed
    assert "likelihood-ratio test against the model without covariates" in printed
    assert expected.loc["purchase[z]", "estimate"] > 0  # drawn with 0.6

    assert cli.main(["report", str(path), "--out", str(tmp_path / "r.html"), "--calibration-end", "2021-09-30",
                     *common]) == 0
    document = (tmp_path / "r.html").read_text()
    rows = _covariate_rows(document)
    assert [r[0] for r in rows] == ["purchase[z]", "dropout_a[z]", "dropout_b[z]"]
    assert "Likelihood-ratio test of the covariates" in document

    status = cli.main(["report", str(path), "--out", str(tmp_path / "bad.html"), "--calibration-end", "2021-09-30",
                       *common[:-5], "--purchase-covariates", "amount", "--quiet"])
    assert status == 2
    assert "'amount' varies within" in capsys.readouterr().err
