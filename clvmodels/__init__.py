"""clvmodels: probabilistic customer lifetime value.

Fits "buy till you die" models (BG/NBD for purchases, Gamma-Gamma for spend) to
transaction histories and predicts, per customer, future purchases, spend, the
probability of still being a customer, and a churn-adjusted discounted CLV.
"""

from ._version import __version__

from . import datasets
from ._base import load_model, model_from_dict
from ._families import ContractualModel, Mixing, SpendModel, TransactionModel, registered_models
from ._covariates import encode_categorical, likelihood_ratio_test
from .data import calibration_holdout_split, compress, customer_columns, first_purchase_amount, rfm_summary
from .discrete import (
    censor_tenure,
    discrete_calibration_holdout_split,
    discrete_rfm_summary,
    tenure_from_survivors,
    tenure_summary,
)
from .bgnbd import BetaGeoModel
from .mbgnbd import ModifiedBetaGeoModel
from .bgbb import BetaGeoBetaBinomModel
from .sbg import ShiftedBetaGeoModel
from .bdw import BetaDiscreteWeibullModel
from .clv import contractual_lifetime_value, customer_lifetime_value
from .gamma_gamma import GammaGammaModel
from .pareto_nbd import ParetoNBDModel
from . import evaluation
from . import plotting
from . import report
from . import business
from . import value_report
from .segments import customer_segments
from .exceptions import BoundaryWarning, CLVWarning, ConvergenceError, DataWarning, ModelWarning, NotFittedError

__all__ = [
    "__version__",
    "datasets",
    "rfm_summary",
    "first_purchase_amount",
    "customer_columns",
    "calibration_holdout_split",
    "compress",
    "discrete_rfm_summary",
    "discrete_calibration_holdout_split",
    "tenure_summary",
    "tenure_from_survivors",
    "censor_tenure",
    "BetaGeoModel",
    "ModifiedBetaGeoModel",
    "BetaGeoBetaBinomModel",
    "ShiftedBetaGeoModel",
    "BetaDiscreteWeibullModel",
    "ContractualModel",
    "GammaGammaModel",
    "ParetoNBDModel",
    "TransactionModel",
    "SpendModel",
    "Mixing",
    "registered_models",
    "encode_categorical",
    "likelihood_ratio_test",
    "customer_lifetime_value",
    "contractual_lifetime_value",
    "evaluation",
    "plotting",
    "report",
    "business",
    "value_report",
    "customer_segments",
    "load_model",
    "model_from_dict",
    "CLVWarning",
    "BoundaryWarning",
    "ConvergenceError",
    "DataWarning",
    "ModelWarning",
    "NotFittedError",
]
