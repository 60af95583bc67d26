"""summary(): a parameter table that is also a statsmodels-like report, in text and HTML,
shared by the command line and the validation report (issue 14, item 7)."""

import numpy as np
import pandas as pd

import clvmodels as clv
from clvmodels import cli


def test_summary_is_a_dataframe_with_a_header(bg):
    summary = bg.summary()
    assert isinstance(summary, pd.DataFrame)
    assert list(summary.columns) == ["estimate", "std_error", "lower_95", "upper_95"]
    labels = [label for label, _ in summary.header()]
    assert labels == ["Model", "Customers", "Log-likelihood", "AIC", "BIC", "Optimiser", "Status", "Time unit"]
    k, n, ll = 4, bg.n_customers_, bg.log_likelihood_
    assert summary.attrs["aic"] == 2 * k - 2 * ll
    assert summary.attrs["bic"] == k * np.log(n) - 2 * ll
    # a derived table is a plain DataFrame
    assert type(summary.round(2)) is pd.DataFrame


def test_summary_text_and_html(bg):
    text = str(bg.summary())
    for piece in ("BG/NBD (BetaGeoModel)", "Log-likelihood  -9,582.43", "AIC", "BIC", "Optimiser", "converged",
                  "Time unit       W", "alpha", "Fader, Hardie & Lee (2005)"):
        assert piece in text, piece
    assert repr(bg.summary()) == text
    page = bg.summary()._repr_html_()
    assert page.count("<table") == 2 and "Log-likelihood" in page and "-9,582.43" in page and "<td>" in page
    assert bg._repr_html_() == page


def test_unfitted_model_html_is_its_repr():
    assert "BetaGeoModel" in clv.BetaGeoModel()._repr_html_()


def test_spend_model_summary_names_what_it_was_fitted_on(gg):
    text = str(gg.summary())
    assert "repeat buyers with a positive monetary_value" in text
    assert "no parameter is per time" in text


def test_cli_prints_the_same_summary(bg, gg):
    assert cli.format_model(bg) == bg.summary().as_text()
    assert cli.format_model(gg) == str(gg.summary())
