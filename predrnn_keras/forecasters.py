"""Forecast methods behind one call: context in, forecast out.

A forecaster takes the context of a batch of sequences in physical units,
`(B, T, H, W)` (mm/h or dBZ for radar, NaN where there is no data), and
returns the next `horizon` fields, `(B, horizon, H, W)` float32 in the same
units. Persistence, optical-flow extrapolation and a trained model answer
the same call, so the evaluator scores any of them the same way and a new
baseline is one class and one registration:

    >>> from predrnn_keras import forecasters
    >>> forecasters.names()
    ('persistence', 'extrapolation', 'sprog', 'anvil')
    >>> method = forecasters.get("extrapolation", transform=transform,
    ...                          motion="LK")
    >>> nowcast = method.forecast(context, horizon=12)

Every forecaster is built from keyword arguments: `transform` (the data's
`RadarTransform`, for units and the dB transform) and the options of its
own; it ignores the ones it does not use. Recipes name the baselines of an
evaluation in `[evaluate] baselines`.
"""

import numpy as np

from predrnn_keras.nowcasting import baselines
from predrnn_keras.registry import Registry

FORECASTERS = Registry("forecast method")


class Forecaster:
    """The interface: `forecast(context, horizon)` in physical units.

    Attributes:
        name: how reports name it.
    """

    name = ""

    def forecast(self, context, horizon: int) -> np.ndarray:
        """The next `horizon` fields of each sequence.

        Args:
            context: `(B, T, H, W)` in physical units, NaN for no data.
            horizon: the number of lead steps.

        Returns:
            float32 `(B, horizon, H, W)` in the context's units.
        """
        raise NotImplementedError


def _batch(context) -> np.ndarray:
    context = np.asarray(context, np.float32)
    if context.ndim != 4:
        raise ValueError(
            "Expected a context of shape (B, T, H, W). "
            f"Received: context.shape={context.shape}"
        )
    return context


class Persistence(Forecaster):
    """The last context field, repeated (`nowcasting.baselines.persistence`)."""

    name = "persistence"

    def __init__(self, **options):
        del options  # persistence has no settings

    def forecast(self, context, horizon: int) -> np.ndarray:
        return np.stack(
            [baselines.persistence(c, horizon) for c in _batch(context)]
        )


class Extrapolation(Forecaster):
    """Optical-flow extrapolation of the last field
    (`nowcasting.baselines.extrapolation`).

    Args:
        transform: the data's `RadarTransform` (None: mm/h, 0.1 mm/h).
        motion: the motion method ("LK", "DARTS", "VET", ...;
            `nowcasting.baselines.MOTION_METHODS`).
    """

    name = "extrapolation"

    def __init__(self, transform=None, motion: str = "LK", **options):
        baselines.check_motion_method(motion)
        self.transform = transform
        self.motion = motion

    def forecast(self, context, horizon: int) -> np.ndarray:
        return np.stack(
            [
                baselines.extrapolation(
                    sequence, horizon, self.motion, self.transform
                )
                for sequence in _batch(context)
            ]
        )


class SProg(Forecaster):
    """pysteps' S-PROG deterministic nowcast (`nowcasting.baselines.sprog`):
    extrapolation whose small scales fade as they lose predictability.

    Args:
        transform: the data's `RadarTransform` (None: mm/h, 0.1 mm/h).
        motion: the motion method (`nowcasting.baselines.MOTION_METHODS`).
    """

    name = "sprog"

    def __init__(self, transform=None, motion: str = "LK", **options):
        baselines.check_motion_method(motion)
        self.transform = transform
        self.motion = motion

    def forecast(self, context, horizon: int) -> np.ndarray:
        return np.stack(
            [
                baselines.sprog(c, horizon, self.motion, self.transform)
                for c in _batch(context)
            ]
        )


class Anvil(Forecaster):
    """pysteps' ANVIL deterministic nowcast (`nowcasting.baselines.anvil`):
    extrapolation with the growth and decay of the context, scale by
    scale. Rain rates (mm/h) only.

    Args:
        transform: the data's `RadarTransform` (None: mm/h, 0.1 mm/h).
        motion: the motion method (`nowcasting.baselines.MOTION_METHODS`).
    """

    name = "anvil"
    method = staticmethod(baselines.anvil)

    def __init__(self, transform=None, motion: str = "LK", **options):
        baselines.check_motion_method(motion)
        if transform is not None and transform.unit != "mm/h":
            raise ValueError(
                f"Expected rain rates (mm/h) for the {self.name} baseline, "
                f"which models their growth and decay. Received: "
                f"{transform.unit}"
            )
        self.transform = transform
        self.motion = motion

    def forecast(self, context, horizon: int) -> np.ndarray:
        return np.stack(
            [
                self.method(c, horizon, self.motion, self.transform)
                for c in _batch(context)
            ]
        )


class Linda(Anvil):
    """pysteps' LINDA deterministic nowcast (`nowcasting.baselines.linda`):
    extrapolation with growth, decay and smoothing fitted locally. Rain
    rates (mm/h) only; the same arguments as `Anvil`.
    """

    name = "linda"
    method = staticmethod(baselines.linda)


class ModelForecaster(Forecaster):
    """A trained model as a forecaster of physical fields.

    The context goes through the data's transform into the model's [0, 1]
    values (no data counts as no rain), the model rolls out, and its
    predictions, clipped to [0, 1], come back through the inverse. With a
    `LagrangianFrame` (`nowcasting.lagrangian`), the model works in the
    frame of the last context field: the motion is estimated from each
    context, the context moved into that frame, and the forecast advected
    back; a model that repeats its last input field is then optical-flow
    extrapolation. With `probability_matching="cdf"`, each forecast field
    takes the values of the last context field, rank for rank, in the order
    of the model's values (`nowcasting.matching`).

    It also answers `predict_future` in the model's own values, as the
    model does, so evaluation and `predict.py` use it in the model's place
    (`DataKind.predictor`).

    Args:
        model: a built `PredRNN` / `PredRNNV2` of one channel.
        transform: the data's transform (`forward`, `inverse`).
        name: how reports name it.
        frame: None (the fields as observed) or a `LagrangianFrame`.
        probability_matching: "none" or "cdf".
    """

    def __init__(
        self,
        model,
        transform,
        name: str = "PredRNN",
        frame=None,
        probability_matching: str = "none",
    ):
        if probability_matching not in ("none", "cdf"):
            raise ValueError(
                "Expected probability_matching 'none' or 'cdf'. "
                f"Received: {probability_matching!r}"
            )
        self.model = model
        self.transform = transform
        self.name = name
        self.frame = frame
        self.probability_matching = probability_matching

    @property
    def input_length(self) -> int:
        return self.model.input_length

    @property
    def patch_size(self) -> int:
        return self.model.patch_size

    def predict_values(self, inputs, horizon: int) -> np.ndarray:
        """The model's own values: `(B, T, H, W, 1)` in, clipped
        `(B, horizon, H, W, 1)` float32 out."""
        pred = self.model.predict_future(
            inputs, horizon, batch_size=len(inputs)
        )
        return np.clip(np.asarray(pred, np.float32), 0.0, 1.0)

    def forecast(self, context, horizon: int, motion=None) -> np.ndarray:
        """The next `horizon` fields (`Forecaster.forecast`); in the
        Lagrangian frame, `motion` gives each sequence's motion field
        `(B, 2, H, W)` instead of estimating it from the context."""
        context = _batch(context)
        observed = context
        if self.frame is not None:
            if motion is None:
                motion = [self.frame.motion(c) for c in context]
            last = context.shape[1] - 1
            context = np.stack(
                [
                    self.frame.to_lagrangian(c, v, last)
                    for c, v in zip(context, motion)
                ]
            )
        inputs = self.transform.forward(context)[..., None]
        pred = self.predict_values(inputs, horizon)[..., 0]
        if self.probability_matching == "cdf":
            return self._matched(pred, observed, motion)
        future = self.transform.inverse(pred).astype(np.float32)
        if self.frame is not None:
            future = np.stack(
                [
                    self.frame.from_lagrangian(f, v)
                    for f, v in zip(future, motion)
                ]
            )
        return future

    def _matched(self, pred, observed, motion) -> np.ndarray:
        """The forecast of probability matching: the last observed field's
        values, placed in the order of the model's own values (in the
        observed frame), which still rank the pixels the inverse transform
        would call dry; so the rain area is the observed one, as in
        S-PROG, unless the model forecasts rain on fewer pixels."""
        from predrnn_keras.nowcasting.matching import match_distribution

        if self.frame is not None:
            pred = np.stack(
                [
                    self.frame.from_lagrangian(p, v, outside=0.0)
                    for p, v in zip(pred, motion)
                ]
            )
        return np.stack(
            [match_distribution(p, c[-1]) for p, c in zip(pred, observed)]
        )

    def predict_future(self, context, horizon: int, batch_size: int = 32):
        """`model.predict_future` through the forecast: the context in the
        model's values `(B, T, H, W, 1)`, the forecast `(B, horizon, H, W,
        1)` in them too."""
        context = np.asarray(context, np.float32)
        out = []
        for first in range(0, len(context), batch_size):
            part = context[first : first + batch_size, ..., 0]
            physical = self.transform.inverse(part)
            out.append(self.transform.forward(self.forecast(physical, horizon)))
        return np.concatenate(out)[..., None]


FORECASTERS.register("persistence", Persistence)
FORECASTERS.register("extrapolation", Extrapolation)
FORECASTERS.register("sprog", SProg)
FORECASTERS.register("anvil", Anvil)
FORECASTERS.register("linda", Linda)


def names() -> tuple:
    """The names of the registered forecast methods (the baselines a recipe
    may list)."""
    return FORECASTERS.names()


def get(name: str, **options) -> Forecaster:
    """The forecaster registered as `name`, built with `options`.

    Raises:
        ValueError: an unknown name (the message lists the known ones) or
            option.
    """
    return FORECASTERS.get(name)(**options)


def register(name: str, factory, replace: bool = False):
    """Registers a forecaster class (or any callable taking keyword
    options and returning a `Forecaster`) under `name`."""
    return FORECASTERS.register(name, factory, replace=replace)
