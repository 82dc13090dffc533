"""A trained radar model as a pysteps nowcast method.

pysteps' deterministic nowcasts share one call, `forecast(precip, velocity,
timesteps, ...)`: the last observed fields, the motion field and the lead
times in, the forecast fields out. This module's `forecast` answers the
same call with a trained radar model, so that a pysteps script swaps
extrapolation for the model in one line:

    from pysteps import motion
    from predrnn_keras.predict.pysteps_nowcast import forecast

    velocity = motion.get_method("LK")(precip_db[-3:])
    # nowcast = extrapolation.forecast(precip[-1], velocity, 12)
    nowcast = forecast(precip[-6:], velocity, 12,
                       model="predrnn_v2_radar_5min", kmperpixel=1.0)

The model takes its last `input_length` fields (mm/h, or dBZ for a model
trained on reflectivity; NaN for no data, which counts as no rain). In the
Lagrangian frame (`[data] frame = "lagrangian"`) it moves them along
`velocity`, as pysteps' extrapolation does. With `kmperpixel`, fields of
another grid are averaged to the model's pixel size and the forecast is
interpolated back. As pysteps' extrapolation returns it, the forecast is
NaN where the trajectories come from outside the domain or from pixels
without data, and 0 mm/h where there is no rain.
"""

import functools

import numpy as np

from predrnn_keras import pretrained
from predrnn_keras.data.kinds import kind_of
from predrnn_keras.data.radar.reading import area_resize
from predrnn_keras.data.radar.settings import radar_settings
from predrnn_keras.forecasters import ModelForecaster
from predrnn_keras.nowcasting.extra import require
from predrnn_keras.predict.forecaster import load_model_and_recipe

DEFAULT_MODEL = "predrnn_v2_radar_5min"


@functools.lru_cache(maxsize=4)
def _model(target: str, which: str):
    """The model of `target`, its forecaster, recipe and pixel size (km,
    from a shipped model's manifest; None where unknown), loaded once."""
    model, _, _, recipe = load_model_and_recipe(target, which)
    if recipe is None or kind_of(recipe["data"]).name != "radar":
        raise ValueError(
            f"Expected a radar model with its recipe. Received: {target!r}"
        )
    settings = radar_settings(recipe["data"])
    frame = None
    if settings.frame == "lagrangian":
        from predrnn_keras.data.radar.lagrangian import lagrangian_frame

        frame = lagrangian_frame(settings)
    forecaster = ModelForecaster(
        model,
        settings.transform,
        frame=frame,
        probability_matching=settings.probability_matching,
    )
    pixel_km = None
    if pretrained.is_name(target):
        pixel_km = pretrained.manifest(target).get("pixel_km")
    return forecaster, settings, pixel_km


def _lead_steps(timesteps) -> list:
    """The lead times as whole steps, ascending."""
    if isinstance(timesteps, (int, np.integer)) and not isinstance(
        timesteps, bool
    ):
        steps = list(range(1, int(timesteps) + 1))
    else:
        steps = [float(t) for t in np.atleast_1d(timesteps)]
        if any(t != round(t) for t in steps):
            raise ValueError(
                "Expected timesteps to be whole time steps (the model "
                f"predicts one step at a time). Received: {timesteps!r}"
            )
        steps = [int(t) for t in steps]
    if not steps or steps[0] < 1 or steps != sorted(set(steps)):
        raise ValueError(
            "Expected timesteps to be a positive number of steps or a "
            f"list of ascending lead times >= 1. Received: {timesteps!r}"
        )
    return steps


def _resize_stack(fields, shape) -> np.ndarray:
    return np.stack([area_resize(f, shape) for f in fields])


def forecast(
    precip,
    velocity,
    timesteps,
    model: str = DEFAULT_MODEL,
    kmperpixel: "float | None" = None,
    which: str = "best",
) -> np.ndarray:
    """Nowcasts the fields after `precip` with a trained radar model.

    Args:
        precip: `(T, m, n)`: the last observed fields, oldest first, in the
            model's unit (mm/h or dBZ), NaN for no data; T >= the model's
            `input_length`, of which the last `input_length` are used.
        velocity: `(2, m, n)` motion field (x, y) in pixels per time step,
            as `pysteps.motion` gives it; None estimates it from `precip`
            by the model's motion method. A model trained in the observed
            frame does not use it.
        timesteps: the number of lead steps, or a list of lead times in
            time steps (whole steps, ascending).
        model: the name of a shipped model, a run folder or a `.keras`
            file with its recipe.
        kmperpixel: the size of `precip`'s pixels in km; needs a model that
            knows its own (a shipped one). None: the fields are taken at
            the model's pixel size.
        which: "best" or "last" model of a run folder.

    Returns:
        float `(len(timesteps), m, n)` in `precip`'s unit: NaN where the
        trajectories come from outside the domain or from no data, 0 mm/h
        (or the zero value in dBZ) for no rain.

    Raises:
        ValueError: a model that is not a radar model, too few fields,
            shapes that do not agree, or bad timesteps.
    """
    forecaster, settings, model_km = _model(str(model), which)
    length = forecaster.input_length
    precip = np.asarray(precip, np.float64)
    if precip.ndim != 3 or precip.shape[0] < length:
        raise ValueError(
            f"Expected precip of shape (T, m, n) with T >= {length} (the "
            f"model's context). Received: precip.shape={precip.shape}"
        )
    steps = _lead_steps(timesteps)
    shape = precip.shape[1:]
    if velocity is not None:
        velocity = np.asarray(velocity, np.float64)
        if velocity.shape != (2, *shape):
            raise ValueError(
                f"Expected velocity of shape (2, {shape[0]}, {shape[1]}). "
                f"Received: velocity.shape={velocity.shape}"
            )
    context = precip[-length:]
    scale = 1.0
    if kmperpixel is not None:
        if model_km is None:
            raise ValueError(
                f"kmperpixel needs a model that knows its pixel size (a "
                f"shipped one); {model!r} does not"
            )
        scale = float(kmperpixel) / float(model_km)
    grid = _model_grid(shape, scale, forecaster.patch_size)
    small = _resize_stack(context, grid)
    motion = None
    if forecaster.frame is not None:
        if velocity is None:
            motion = forecaster.frame.motion(small)
        else:
            motion = _resize_stack(velocity, grid) * (grid[1] / shape[1])
    future = forecaster.forecast(
        small[None], steps[-1], None if motion is None else [motion]
    )[0]
    future = np.stack([_interpolate(f, shape) for f in future])
    selected = future[[k - 1 for k in steps]]
    return selected + _no_data(context[-1], velocity, motion, grid, steps)


def _model_grid(shape, scale: float, patch: int) -> tuple[int, int]:
    """The fields' size at the model's pixel size, a multiple of the
    model's patch size."""
    return tuple(
        max(patch, int(round(side * scale / patch)) * patch) for side in shape
    )


def _interpolate(field, shape) -> np.ndarray:
    """`field` interpolated linearly onto a grid of `shape`, edge to edge."""
    if field.shape == tuple(shape):
        return field.astype(np.float64)
    ndimage = require("scipy.ndimage")
    rows = (np.arange(shape[0]) + 0.5) * field.shape[0] / shape[0] - 0.5
    cols = (np.arange(shape[1]) + 0.5) * field.shape[1] / shape[1] - 0.5
    coords = np.meshgrid(rows, cols, indexing="ij")
    return ndimage.map_coordinates(
        field.astype(np.float64), coords, order=1, mode="nearest"
    )


def _no_data(last, velocity, motion, grid, steps) -> np.ndarray:
    """0 where the forecast is defined, NaN where pysteps' extrapolation of
    the last field gives NaN: trajectories from outside the domain or from
    pixels without data."""
    shape = last.shape
    if velocity is None:
        if motion is None:
            return np.where(np.isfinite(last), 0.0, np.nan)[None]
        velocity = np.stack([_interpolate(m, shape) for m in motion])
        velocity *= shape[1] / grid[1]
    extrapolate = require("pysteps.extrapolation.semilagrangian")
    marks = np.where(np.isfinite(last), 0.0, np.nan)
    moved = extrapolate.extrapolate(
        marks,
        velocity,
        [float(k) for k in steps],
        outval=np.nan,
        allow_nonfinite_values=True,
    )
    return np.where(np.isfinite(moved), 0.0, np.nan)
