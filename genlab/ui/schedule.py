"""The noise schedule as plot data: signal sqrt(ᾱ_t) and noise sqrt(1-ᾱ_t) against t (Ho et al. 2020, eq. 4), with
a vertical marker line (the current step, or where image-to-image enters). Pure numpy/pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd

SCHEDULE_POINTS = 100  # the curves are drawn from this many timesteps
COLOURS = {"signal √ᾱ_t": "#1f77b4", "noise √(1-ᾱ_t)": "#d62728", "now": "#111111", "enters here": "#111111"}


def noise_schedule(alphas_cumprod, marker: int | None, label: str = "now") -> pd.DataFrame:
    """Rows (timestep t, value, curve) for a gr.LinePlot coloured by curve."""
    a = np.asarray(alphas_cumprod, dtype=float)
    if not len(a):
        return pd.DataFrame({"timestep t": [], "value": [], "curve": []})
    t = np.linspace(0, len(a) - 1, SCHEDULE_POINTS).round().astype(int)
    rows = [{"timestep t": int(k), "value": float(np.sqrt(a[k])), "curve": "signal √ᾱ_t"} for k in t]
    rows += [{"timestep t": int(k), "value": float(np.sqrt(1 - a[k])), "curve": "noise √(1-ᾱ_t)"} for k in t]
    if marker is not None:
        rows += [{"timestep t": int(marker), "value": v, "curve": label} for v in (0.0, 1.0)]
    return pd.DataFrame(rows)
