"""The data kind "radar": radar composites through pysteps' importers.

Besides its reader, radar data brings its units (mm/h or dBZ through the
dB transform; `RadarTransform`), the nowcasting scores and rain pictures
of `evaluate.py` beside the baselines (`radar_evaluation`), and folders of
radar files as the input of `predict.py` (`radar_forecast`).
"""

from pathlib import Path

from predrnn_keras import forecasters
from predrnn_keras.data import radar
from predrnn_keras.data.radar.lagrangian import lagrangian_frame
from predrnn_keras.data.kinds.base import DataKind
from predrnn_keras.data.kinds.radar_evaluation import NowcastEvaluation
from predrnn_keras.data.kinds.radar_forecast import RadarForecastSource


class RadarKind(DataKind):
    """A time series of radar files (`predrnn_keras.data.radar`)."""

    name = "radar"
    keys = radar.KEYS
    description = radar.__doc__.strip().splitlines()[0]

    def make_reader(self, config, split, total_length, seed):
        return radar.radar_reader(config, split, total_length)

    def frame_shape(self, config):
        return (*radar.radar_frame_shape(config), 1)

    def transform(self, config):
        return radar.radar_transform(config)

    def predictor(self, model, config):
        """The model itself, or a `ModelForecaster` around it: in the
        Lagrangian frame, between the frame's transform and its inverse;
        with probability matching, followed by it."""
        settings = radar.radar_settings(config)
        lagrangian = settings.frame == "lagrangian"
        if not lagrangian and settings.probability_matching == "none":
            return model
        return forecasters.ModelForecaster(
            model,
            settings.transform,
            frame=lagrangian_frame(settings) if lagrangian else None,
            probability_matching=settings.probability_matching,
        )

    def evaluation_extras(self, reader, settings, horizon):
        return NowcastEvaluation(reader, settings, horizon)

    def forecast_source(self, source, recipe, request):
        """A folder is a folder of radar files; anything else is read as
        frames, videos or arrays."""
        if not Path(source).is_dir():
            return None
        return RadarForecastSource(source, recipe, request)
