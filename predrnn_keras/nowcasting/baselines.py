"""Baseline nowcasts: persistence, optical-flow extrapolation, S-PROG, ANVIL,
LINDA.

Both take the context frames of one sequence, `(T, H, W)` in physical
units (mm/h or dBZ; NaN for no data), and return `(horizon, H, W)` float32
in the same units, ready for `NowcastScores` next to the model's forecast.

- `persistence`: the last context frame, repeated.
- `sprog`, `anvil`: pysteps' S-PROG and ANVIL deterministic nowcasts,
  which add scale-dependent decay (S-PROG) or growth and decay (ANVIL) to
  the extrapolation, with the same motion field.
- `linda`: pysteps' LINDA deterministic nowcast, localised growth, decay
  and smoothing around features of the last field, with the same motion.
- `extrapolation`: the motion field is estimated from the context with a
  `pysteps.motion` method, on the dB-transformed fields as pysteps does
  (`RadarTransform.to_db`, no-data filled with the zero value), and the
  last frame is advected along it with pysteps' semi-Lagrangian scheme
  (`pysteps.extrapolation`, linear interpolation), one context time step
  per lead step.
"""

import contextlib
import io

import numpy as np

from predrnn_keras.nowcasting.extra import require
from predrnn_keras.nowcasting.transform import RadarTransform

# Our name -> (pysteps.motion name, the most frames it takes, or None).
MOTION_METHODS = {
    "LK": ("lk", None),  # Lucas-Kanade (OpenCV), the default
    "DARTS": ("darts", None),
    "VET": ("vet", 3),
    "proesmans": ("proesmans", 2),
    "farneback": ("farneback", None),
    "constant": ("constant", None),
}


def _check_context(context, horizon, min_frames: int) -> np.ndarray:
    context = np.asarray(context, np.float32)
    if context.ndim != 3 or context.shape[0] < min_frames:
        raise ValueError(
            f"Expected context of shape (T, H, W) with T >= {min_frames}. "
            f"Received: context.shape={context.shape}"
        )
    is_int = isinstance(horizon, (int, np.integer))
    if isinstance(horizon, bool) or not is_int or horizon < 1:
        raise ValueError(
            "Expected horizon to be a positive int. "
            f"Received: horizon={horizon}"
        )
    return context


def _motion_method(method: str) -> tuple[str, str]:
    """Our method name, case-insensitive, -> (our name, pysteps name)."""
    names = {name.lower(): name for name in MOTION_METHODS}
    name = names.get(str(method).lower())
    if name is None:
        raise ValueError(
            "Expected method to be one of "
            f"{', '.join(MOTION_METHODS)}. Received: method={method!r}"
        )
    return name, MOTION_METHODS[name][0]


def check_motion_method(method: str) -> str:
    """Our name of a motion method given in any case (`MOTION_METHODS`).

    Raises:
        ValueError: a method not in `MOTION_METHODS`; the message lists them.
    """
    return _motion_method(method)[0]


def min_context(method: str) -> int:
    """The fewest context fields a motion method estimates from."""
    return 3 if check_motion_method(method) == "DARTS" else 2


def persistence(context, horizon: int) -> np.ndarray:
    """The last context frame, repeated `horizon` times.

    Args:
        context: `(T, H, W)` in physical units.
        horizon: number of lead steps.

    Returns:
        float32 `(horizon, H, W)`; no-data pixels of the last frame stay NaN,
        which the scores leave out.
    """
    context = _check_context(context, horizon, 1)
    return np.repeat(context[-1:], horizon, axis=0)


def motion_field(
    context,
    method: str = "LK",
    transform: RadarTransform | None = None,
    motion_kwargs: dict | None = None,
) -> np.ndarray:
    """The motion field of the context frames, in pixels per time step.

    Args:
        context: `(T, H, W)` in physical units, T >= 2 (3 for DARTS).
        method: a name of `MOTION_METHODS`, case-insensitive: "LK"
            (Lucas-Kanade), "DARTS", "VET" (the last 3 frames),
            "proesmans" (the last 2), "farneback" or "constant".
        transform: gives the unit and the dB transform of the values;
            None is `RadarTransform()`, rain rates in mm/h with a 0.1 mm/h
            threshold, as pysteps' examples use.
        motion_kwargs: more keyword arguments of the pysteps method.

    Returns:
        float64 `(2, H, W)`: the x (rightwards) and y (downwards, along
        rows) components.
    """
    name, pysteps_name = _motion_method(method)
    context = _check_context(context, 1, min_context(name))
    transform = RadarTransform() if transform is None else transform
    most_frames = MOTION_METHODS[name][1]
    if most_frames is not None:
        context = context[-most_frames:]
    db = np.nan_to_num(transform.to_db(context), nan=transform.zero_db)
    kwargs = {"verbose": False}
    if name == "DARTS":
        # DARTS needs fewer time coefficients than frames - 1.
        kwargs["N_t"] = min(4, db.shape[0] - 2)
    kwargs.update(motion_kwargs or {})
    motion = require("pysteps.motion")
    return np.asarray(motion.get_method(pysteps_name)(db, **kwargs))


def extrapolation(
    context,
    horizon: int,
    method: str = "LK",
    transform: RadarTransform | None = None,
    motion_kwargs: dict | None = None,
) -> np.ndarray:
    """Optical-flow extrapolation nowcast of one sequence.

    The last frame, its no-data pixels filled with "no rain", is advected
    along `motion_field(context, method, transform)` by pysteps'
    semi-Lagrangian scheme. Pixels advected from outside the domain, which
    pysteps returns as NaN by default, are "no rain": 0 mm/h, or the
    transform's `zero_db` for dBZ.

    Args:
        context: `(T, H, W)` in physical units, T >= 2 (3 for DARTS).
        horizon: number of lead steps, each one context time step.
        method: the motion method, as `motion_field` takes it.
        transform: the unit and its dB transform (None: mm/h, 0.1 mm/h
            threshold).
        motion_kwargs: more keyword arguments of the pysteps motion method.

    Returns:
        float32 `(horizon, H, W)` in the context's unit, without NaN.
    """
    context = _check_context(context, horizon, 1)
    transform = RadarTransform() if transform is None else transform
    velocity = motion_field(context, method, transform, motion_kwargs)
    no_rain = 0.0 if transform.unit == "mm/h" else transform.zero_db
    last = np.nan_to_num(context[-1].astype(np.float64), nan=no_rain)
    extrapolate = require("pysteps.extrapolation").get_method("semilagrangian")
    nowcast = extrapolate(last, velocity, int(horizon), outval=no_rain)
    return np.nan_to_num(np.asarray(nowcast), nan=no_rain).astype(np.float32)


def _quiet():
    """pysteps' nowcasts print their settings and progress: kept off the
    terminal."""
    return contextlib.redirect_stdout(io.StringIO())


def sprog(
    context,
    horizon: int,
    method: str = "LK",
    transform: RadarTransform | None = None,
    cascade_levels: int = 6,
) -> np.ndarray:
    """pysteps' S-PROG nowcast of one sequence (Seed 2003): the dB fields
    are split into a cascade of spatial scales, each scale's evolution
    follows its own AR(2) process, so that small scales lose their
    predictability sooner than large ones, and the result is advected along
    the motion field (`pysteps.nowcasts.sprog`, deterministic).

    Args:
        context: `(T, H, W)` in physical units, T >= 3.
        horizon: number of lead steps.
        method: the motion method, as `motion_field` takes it.
        transform: the unit and its dB transform (None: mm/h, 0.1 mm/h).
        cascade_levels: the number of spatial scales.

    Returns:
        float32 `(horizon, H, W)` in the context's unit, without NaN.
    """
    context = _check_context(context, horizon, 3)
    transform = RadarTransform() if transform is None else transform
    velocity = motion_field(context, method, transform)
    db = np.nan_to_num(transform.to_db(context[-3:]), nan=transform.zero_db)
    nowcasts = require("pysteps.nowcasts")
    with _quiet():
        forecast = nowcasts.get_method("sprog")(
            db,
            velocity,
            int(horizon),
            precip_thr=transform.threshold_db,
            n_cascade_levels=cascade_levels,
            probmatching_method="cdf",
        )
    forecast = np.nan_to_num(np.asarray(forecast), nan=transform.zero_db)
    return np.asarray(transform.from_db(forecast), np.float32)


def _rates_and_motion(name, context, horizon, frames, method, transform):
    """The last `frames` context fields as rain rates (no data: no rain)
    and the context's motion field, for the nowcasts that model rain rates;
    other units are refused, naming the method."""
    context = _check_context(context, horizon, frames)
    transform = RadarTransform() if transform is None else transform
    if transform.unit != "mm/h":
        raise ValueError(
            f"Expected rain rates (mm/h) for {name}, which models their "
            f"growth and decay. Received: unit={transform.unit!r}"
        )
    velocity = motion_field(context, method, transform)
    rates = np.nan_to_num(context[-frames:].astype(np.float64), nan=0.0)
    return rates, velocity


def _rates_out(forecast) -> np.ndarray:
    """A rain-rate nowcast without NaN or negative rates, float32."""
    forecast = np.nan_to_num(np.asarray(forecast), nan=0.0)
    return np.maximum(forecast, 0.0).astype(np.float32)


def anvil(
    context,
    horizon: int,
    method: str = "LK",
    transform: RadarTransform | None = None,
    cascade_levels: int = 6,
    window_radius: int = 25,
) -> np.ndarray:
    """pysteps' ANVIL nowcast of one sequence (Pulkkinen et al. 2020): the
    rain rates, advected into the frame of the last field, are split into
    spatial scales whose time derivatives follow local autoregressive
    processes, which lets rain grow and decay where it did in the context
    (`pysteps.nowcasts.anvil`, on rain rates rather than VIL).

    Args:
        context: `(T, H, W)` in mm/h, T >= 4.
        horizon: number of lead steps.
        method: the motion method, as `motion_field` takes it.
        transform: gives the unit, which must be mm/h, and the motion's dB
            transform (None: mm/h, 0.1 mm/h).
        cascade_levels: the number of spatial scales.
        window_radius: the radius, in pixels, of the windows whose AR
            parameters are fitted locally.

    Returns:
        float32 `(horizon, H, W)` in mm/h, without NaN.
    """
    rates, velocity = _rates_and_motion(
        "ANVIL", context, horizon, 4, method, transform
    )
    nowcasts = require("pysteps.nowcasts")
    with _quiet():
        forecast = nowcasts.get_method("anvil")(
            rates,
            velocity,
            int(horizon),
            n_cascade_levels=cascade_levels,
            ar_window_radius=window_radius,
        )
    return _rates_out(forecast)


def linda(
    context,
    horizon: int,
    method: str = "LK",
    transform: RadarTransform | None = None,
    max_features: int = 25,
) -> np.ndarray:
    """pysteps' LINDA nowcast of one sequence (Pulkkinen et al. 2021): the
    rain rates are modelled by an integro-difference equation with
    autoregression, ARI(1, 1), whose kernels and parameters are fitted
    locally around up to `max_features` Shi-Tomasi features of the last
    field (OpenCV), then advected along the motion field
    (`pysteps.nowcasts.linda`, deterministic).

    Args:
        context: `(T, H, W)` in mm/h, T >= 3.
        horizon: number of lead steps.
        method: the motion method, as `motion_field` takes it.
        transform: gives the unit, which must be mm/h, and the motion's dB
            transform (None: mm/h, 0.1 mm/h).
        max_features: the most features the model is localised around.

    Returns:
        float32 `(horizon, H, W)` in mm/h, without NaN.
    """
    transform = RadarTransform() if transform is None else transform
    rates, velocity = _rates_and_motion(
        "LINDA", context, horizon, 3, method, transform
    )
    rates[rates < transform.threshold] = 0.0
    nowcasts = require("pysteps.nowcasts")
    if not np.any(rates[-1] > 0):
        return np.zeros((int(horizon), *rates.shape[1:]), np.float32)
    with _quiet():
        forecast = nowcasts.get_method("linda")(
            rates,
            velocity,
            int(horizon),
            feature_method="shitomasi",
            max_num_features=max_features,
            add_perturbations=False,
        )
    return _rates_out(forecast)
