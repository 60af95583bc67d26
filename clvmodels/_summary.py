"""The fitted-model summary: a parameter table with a statsmodels-like header.

:class:`ModelSummary` is a pandas DataFrame (one row per parameter: estimate,
std_error, lower_95, upper_95), so code that indexes or formats the table keeps
working; its header facts live in ``attrs`` and :meth:`ModelSummary.header` returns
them as (label, text) rows, computed once here and rendered as text (``str``,
``print``) or HTML (``_repr_html_``, which notebooks show) and by the report and the
command line.
"""

import html
import math

import pandas as pd


def _number(value, digits=2):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.{digits}f}"


class ModelSummary(pd.DataFrame):
    """Parameter table of a fitted model, with the fit's facts in ``attrs``.

    Frames derived from it (``round``, selections, ...) are plain DataFrames.
    """

    @property
    def _constructor(self):
        return pd.DataFrame

    def header(self):
        """The fit's facts as (label, text) rows: model, data, customers, log-likelihood,
        AIC, BIC, optimiser, status, time unit."""
        a = self.attrs
        title = a.get("title") or a.get("model")
        model = f"{title} ({a.get('model')})" if a.get("title") else str(a.get("model"))
        rows = [("Model", model)]
        if a.get("data"):
            rows.append(("Data", str(a["data"])))
        customers = a.get("n_customers")
        used = f"{customers:,.0f}" if customers is not None else "–"
        if a.get("fit_rows_label") and a["fit_rows_label"] != "customers":
            used += f" {a['fit_rows_label']}"
        if a.get("n_unique_rows") is not None:
            used += f" ({a['n_unique_rows']:,} distinct histories)"
        rows += [
            ("Customers", used),
            ("Log-likelihood", _number(a.get("log_likelihood"))),
            ("AIC", _number(a.get("aic"))),
            ("BIC", _number(a.get("bic"))),
            ("Optimiser", str(a.get("optimizer") or "–")),
            ("Status", self.status()),
            ("Time unit", self._time_unit_text()),
        ]
        return rows

    def _time_unit_text(self):
        unit = self.attrs.get("time_unit")
        if not self.attrs.get("time_params", True):
            return f"{unit} (of the data; no parameter is per time)" if unit else "– (no parameter is per time)"
        return str(unit or "–")

    def status(self):
        """Converged, or at the boundary with what diverges."""
        notes = self.attrs.get("boundary_notes") or []
        if self.attrs.get("at_boundary"):
            return "at the boundary: " + "; ".join(notes) + " (the limiting model; no standard errors for " + \
                ", ".join(self.attrs["at_boundary"]) + ")"
        return "converged" if self.attrs.get("converged", True) else "not converged"

    def table_text(self):
        """The parameter table alone, as text."""
        return pd.DataFrame(self).to_string(float_format=lambda v: f"{v:.6g}")

    def as_text(self):
        """Header then parameter table, as fixed-width text."""
        rows = self.header()
        width = max(len(label) for label, _ in rows)
        table = self.table_text()
        rule = "=" * max(len(line) for line in table.splitlines() + [f"{'':{width}}  {rows[0][1]}"])
        lines = [f"{rows[0][1]} — summary".center(len(rule)), rule]
        lines += [f"{label:<{width}}  {text}" for label, text in rows]
        lines += ["-" * len(rule), table, rule]
        if self.attrs.get("reference"):
            lines.append(f"Reference: {self.attrs['reference']}")
        return "\n".join(lines)

    def __str__(self):
        return self.as_text()

    def __repr__(self):
        return self.as_text()

    def _repr_html_(self):
        head = "".join(
            f"<tr><th style='text-align:left'>{html.escape(label)}</th><td style='text-align:left'>{html.escape(text)}</td></tr>"
            for label, text in self.header()
        )
        table = pd.DataFrame(self).to_html(float_format=lambda v: f"{v:.6g}", na_rep="–")
        reference = (
            f"<p><small>Reference: {html.escape(self.attrs['reference'])}</small></p>" if self.attrs.get("reference") else ""
        )
        return f"<div class='clvmodels-summary'><table>{head}</table>{table}{reference}</div>"


def model_html(model):
    """``_repr_html_`` of a model: its summary when fitted, else its repr."""
    if not hasattr(model, "params_"):
        return f"<pre>{html.escape(repr(model))}</pre>"
    return model.summary()._repr_html_()
