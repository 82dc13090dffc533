"""The interface of a data kind, and the identity of image values.

A data kind is everything the rest of the package asks about one family of
data (`[data] kind = "..."`): how to read a split, what the model's [0, 1]
values mean, which scores and pictures evaluation and predict add, and how
predict reads a user's input of that kind. The trainer, the evaluator, the
forecaster and the recipes call this interface only; they never ask which
kind they hold. `predrnn_keras.data.kinds` keeps the registry.
"""

from collections.abc import Mapping

from predrnn_keras.data import config_checks
from predrnn_keras.data.sequence_reader import SequenceReader


class ImageValues:
    """The values of image data: the model's [0, 1] values are the data's.

    The transform of every kind but radar. A value outside [0, 1] cannot be
    a frame's value, so `to_model_units` refuses it.

    Attributes:
        unit: None: image values have no physical unit.
    """

    unit = None

    def forward(self, values):
        """Data values to the model's (the identity)."""
        return values

    def inverse(self, values):
        """The model's values to the data's (the identity)."""
        return values

    def to_model_units(self, values) -> list[float]:
        """Values in the data's units (e.g. loss thresholds) as floats.

        Raises:
            ValueError: a value outside [0, 1].
        """
        values = [float(v) for v in values]
        if not all(0.0 <= v <= 1.0 for v in values):
            raise ValueError("expected values in [0, 1], the frames' values")
        return values


IMAGE_VALUES = ImageValues()


class DataKind:
    """One kind of data: its reader and what it adds to the workflow.

    Subclasses set `name` and `keys` and implement `make_reader` and
    `frame_shape`; the other methods have the defaults of image data.

    Attributes:
        name: the value of `[data] kind` that selects it.
        keys: the keys of its `[data]` table (`config_checks.DataKey`s),
            as docs/recipes.md lists them.
        description: what it reads, one line (docs/recipes.md).
    """

    name = ""
    keys: dict = {}
    description = ""

    def make_reader(
        self, config: Mapping, split: str, total_length: int, seed: int
    ) -> SequenceReader:
        """The reader of one split.

        Args:
            config: the `[data]` table.
            split: "train", "val" or "test".
            total_length: frames per sequence.
            seed: the seed of generated training sequences.
        """
        raise NotImplementedError

    def frame_shape(self, config: Mapping) -> tuple[int, int, int]:
        """`(height, width, channels)` of the frames, reading at most a file
        header (or one frame where nothing else tells)."""
        raise NotImplementedError

    def transform(self, config: Mapping):
        """The model's values <-> the data's units (`forward`, `inverse`,
        `to_model_units`, `unit`): the identity for images."""
        return IMAGE_VALUES

    def predictor(self, model, config: Mapping):
        """What predicts in the model's place in evaluation and
        `predict.py`: anything with `predict_future(context, horizon,
        batch_size)` in the model's values and `input_length`; the model
        itself unless the data is transformed around it."""
        return model

    def evaluation_extras(self, reader, settings: Mapping, horizon: int):
        """What `evaluate.py` adds to the frame metrics for this kind: an
        object with `update`, `save_pictures`, `result`, `write_reports` and
        `describe` (see `EvaluationExtras`), or None for nothing."""
        return None

    def forecast_source(self, source, recipe: Mapping, request):
        """How `predict.py` reads `source` for a model of this kind: a
        `ForecastSource`, or None to read it as frames, videos or arrays.

        Args:
            source: the path the user gave.
            recipe: the model's complete recipe.
            request: the forecast's `ForecastRequest` (context length,
                horizon, scoring, and the options given for frames).
        """
        return None


class EvaluationExtras:
    """Scores and pictures a data kind adds to an evaluation.

    The evaluator calls `update` on every test batch (the model's values),
    `save_pictures` for the sequences it saves, then `result`,
    `write_reports` and `describe` once.

    Attributes:
        key: the name of its results in metrics.json.
    """

    key = ""

    def update(self, context, truth, pred):
        """Scores one batch `(B, T, H, W, C)`; returns what `save_pictures`
        needs of it."""
        raise NotImplementedError

    def save_pictures(self, out_dir, number: int, batch, index: int, fps):
        """Pictures of sequence `index` of a batch, numbered `number`."""

    def result(self) -> dict:
        """The scores, as they go into metrics.json."""
        raise NotImplementedError

    def write_reports(self, out_dir, result: dict) -> dict:
        """Writes its report files; returns their paths."""
        return {}

    def describe(self, result: dict, paths: dict) -> str:
        """The console's view of the scores and files."""
        return ""


def first_path(config: Mapping):
    """The first file of a file kind's `[data]` table (`path`, else
    `train_path`, `test_path`, `val_path`)."""
    for name in ("path", "train_path", "test_path", "val_path"):
        if config.get(name) is not None:
            return config_checks.to_paths(name, config[name])[0]
    return config_checks.get_path(config)
