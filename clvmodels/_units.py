"""Time units: how many days each unit code stands for.

Months, quarters and years are calendar averages (365.25 days a year), so a
period of "M" is 30.4375 days whatever the month.
"""

DAYS_PER_UNIT = {
    "H": 1.0 / 24.0,
    "D": 1.0,
    "W": 7.0,
    "M": 365.25 / 12.0,
    "Q": 365.25 / 4.0,
    "Y": 365.25,
}


def check_time_unit(unit):
    """Return ``unit`` upper-cased if it is a known unit code, else raise ``ValueError``."""
    code = str(unit).upper()
    if code not in DAYS_PER_UNIT:
        raise ValueError(
            f"time_unit {unit!r} is not supported; use one of {', '.join(DAYS_PER_UNIT)}"
        )
    return code


def unit_ratio(unit, model_unit):
    """Length of one ``unit`` expressed in ``model_unit`` (e.g. "M" in "W" -> 4.348)."""
    return DAYS_PER_UNIT[check_time_unit(unit)] / DAYS_PER_UNIT[check_time_unit(model_unit)]


def ticks_per_unit(unit):
    """How many clock ticks make one ``unit``, the resolution times are measured at:
    days for D..Y (7 in a week), hours for H (1). None when the unit is unknown."""
    if not unit:
        return None
    code = check_time_unit(unit)
    return 1.0 if code == "H" else DAYS_PER_UNIT[code]
