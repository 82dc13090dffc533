"""Data kinds as plug-ins: the registry, and a kind of a test's own that
trains, evaluates and predicts through the command lines."""

import importlib.metadata
import json

import numpy as np
import pytest

from predrnn_keras.cli import evaluate as evaluate_cli
from predrnn_keras.cli import predict as predict_cli
from predrnn_keras.cli import train as train_cli
from predrnn_keras.data import build_dataset
from predrnn_keras.data import dataset_info
from predrnn_keras.data import kinds
from predrnn_keras.data.sequence_reader import SequenceReader
from predrnn_keras.registry import Registry
from tests.workflow_helpers import tiny_recipe
from tests.workflow_helpers import write_recipe

SIZE = 16


class SquaresReader(SequenceReader):
    """A 4x4 square moving one pixel right per frame from a column given by
    the sequence's index."""

    def __init__(self, total_length, count):
        super().__init__("squares", count, total_length, (SIZE, SIZE, 1))

    def read_batch(self, indices):
        out = np.zeros((len(indices), self.total_length, SIZE, SIZE, 1))
        for row, index in enumerate(indices):
            for t in range(self.total_length):
                left = (int(index) + t) % (SIZE - 4)
                out[row, t, 6:10, left : left + 4] = 1.0
        return out.astype(np.float32)


class SquaresKind(kinds.DataKind):
    name = "squares"
    keys = {"count": kinds.DataKey("an integer >= 1", 8, "sequences")}
    description = "Squares moving right."

    def make_reader(self, config, split, total_length, seed):
        count = None if split == "train" else config.get("count", 8)
        return SquaresReader(total_length, count)

    def frame_shape(self, config):
        return SIZE, SIZE, 1


@pytest.fixture
def squares():
    kind = kinds.register(SquaresKind())
    yield kind
    kinds.unregister(kind.name)


def test_registry_names_the_known_members_of_an_unknown_name():
    registry = Registry("forecast method")
    registry.register("persistence", "p")
    assert registry.get("persistence") == "p"
    with pytest.raises(ValueError, match=r"in 'persistence'. Received: 'x'"):
        registry.get("x")
    with pytest.raises(ValueError, match="registered already"):
        registry.register("persistence", "q")
    registry.register("persistence", "q", replace=True)
    assert registry.names() == ("persistence",)


def test_unknown_kind_lists_the_registered_ones(squares):
    with pytest.raises(ValueError, match=r"one of moving_mnist, .*squares"):
        kinds.get("sqares")
    assert kinds.get("squares") is squares
    with pytest.raises(ValueError, match="registered already"):
        kinds.register(SquaresKind())


def test_a_kind_of_ones_own_reads_like_the_built_in_ones(squares):
    config = {"kind": "squares", "count": 3}
    assert dataset_info(config).frame_shape == (SIZE, SIZE, 1)
    batch = next(iter(build_dataset(config, "test", 2, total_length=4)))
    assert batch.shape == (2, 4, SIZE, SIZE, 1)
    # The square of sequence 1 starts at column 1 and moves right.
    np.testing.assert_array_equal(batch[1, 2, 7, 3:7, 0], np.ones(4))
    with pytest.raises(ValueError, match="Unknown key"):
        dataset_info({"kind": "squares", "size": 3})


def test_entry_points_declare_kinds_of_other_packages(monkeypatch):
    entry = importlib.metadata.EntryPoint(
        "squares", f"{__name__}:SquaresKind", kinds.ENTRY_POINT_GROUP
    )

    def entry_points(group):
        return [entry] if group == kinds.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    try:
        assert isinstance(kinds.get("squares"), SquaresKind)
        assert "squares" in kinds.names()
    finally:
        kinds.unregister("squares")


@pytest.mark.large
def test_trains_evaluates_and_predicts_through_the_command_lines(
    squares, tmp_path
):
    raw = tiny_recipe(train={"iterations": 4, "eval_every": 4})
    raw["data"] = {"kind": "squares", "count": 4}
    recipe = write_recipe(tmp_path / "squares.toml", raw)
    run = tmp_path / "run"
    assert train_cli.main([str(recipe), "--run-dir", str(run), "--quiet"]) == 0
    assert (run / "best.keras").is_file()

    out = tmp_path / "evaluation"
    assert evaluate_cli.main([str(run), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["kind"] == "squares"
    assert metrics["num_sequences"] == 4
    assert np.isfinite(metrics["mean"]["mse_frame_sum"])

    clip = SquaresReader(3, 1).read_batch([2])[0]
    np.save(tmp_path / "clip.npy", clip)
    forecast = tmp_path / "forecast"
    argv = [str(tmp_path / "clip.npy"), "--model", str(run)]
    assert predict_cli.main([*argv, "--out", str(forecast)]) == 0
    predicted = np.load(forecast / "clip" / "forecast.npy")
    assert predicted.shape == (2, SIZE, SIZE, 1)
