"""`train.precision = "auto"` measured on CPUs with bfloat16 instructions."""

import json

import pytest

from predrnn_keras import recipe_config
from predrnn_keras.training import precision_probe
from predrnn_keras.training import train
from tests.workflow_helpers import tiny_recipe

FRAME = (16, 16, 1)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def auto_recipe():
    return recipe_config.recipe_from_dict(
        tiny_recipe(train={"precision": "auto"})
    )


@pytest.mark.parametrize(
    "bf16, chosen",
    [(0.5, "mixed_bfloat16"), (0.8, "mixed_bfloat16"), (0.81, "float32"),
     (1.6, "float32")],
)
def test_bfloat16_only_where_clearly_faster(bf16, chosen):
    assert precision_probe.pick({"float32": 1.0, "mixed_bfloat16": bf16}) == (
        chosen
    )


def test_the_choice_is_measured_once_and_cached(monkeypatch):
    calls = []

    def measure(recipe, frame_shape):
        calls.append(frame_shape)
        return {"float32": 0.887, "mixed_bfloat16": 1.395}

    monkeypatch.setattr(precision_probe, "measure", measure)
    said = []
    precision, reason = precision_probe.measured_precision(
        auto_recipe(), FRAME, say=said.append
    )
    assert precision == "float32"
    assert calls == [FRAME] and len(said) == 1
    assert reason.startswith(
        "a training step of this model takes 887 ms in float32, 1,395 ms in "
        "mixed_bfloat16 on this CPU (measured in "
    )
    cached = json.loads(precision_probe.cache_path().read_text())
    (key, entry), = cached.items()
    assert json.loads(key)["frame_shape"] == list(FRAME)
    assert entry["float32"] == 0.887
    # Again: from the cache, without timing.
    monkeypatch.setattr(precision_probe, "measure", None)
    again, reason = precision_probe.measured_precision(
        auto_recipe(), FRAME, say=said.append
    )
    assert again == "float32" and "(cached in " in reason and len(said) == 1
    # Another shape class is measured anew.
    monkeypatch.setattr(
        precision_probe,
        "measure",
        lambda r, f: {"float32": 1.0, "mixed_bfloat16": 0.25},
    )
    other = recipe_config.recipe_from_dict(
        tiny_recipe(train={"precision": "auto", "batch_size": 4})
    )
    assert precision_probe.measured_precision(other, FRAME, None)[0] == (
        "mixed_bfloat16"
    )
    assert len(json.loads(precision_probe.cache_path().read_text())) == 2


@pytest.mark.large
def test_measure_times_both_precisions_of_the_recipe_model():
    seconds = precision_probe.measure(auto_recipe(), FRAME, steps=2, warmup=1)
    assert set(seconds) == {"float32", "mixed_bfloat16"}
    assert all(0 < s < 60 for s in seconds.values())


@pytest.mark.large
def test_training_measures_auto_on_a_bfloat16_cpu(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(precision_probe, "needs_measuring", lambda: True)
    monkeypatch.setattr(
        precision_probe,
        "measure",
        lambda r, f: {"float32": 1.0, "mixed_bfloat16": 2.0},
    )
    recipe = auto_recipe()
    result = train(recipe, tmp_path / "run", verbose=1)
    assert result.status == "finished"
    out = capsys.readouterr().out
    assert (
        "Precision: float32 (auto: a training step of this model takes "
        in out
    )
    saved = recipe_config.load_recipe(tmp_path / "run" / "recipe.toml")
    assert saved["train"]["precision"] == "float32"
