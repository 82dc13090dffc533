"""SavedModel export: reload in a fresh process, same predictions."""

import numpy as np
import pytest

from predrnn_keras import recipe_config
from predrnn_keras.export import ExportError
from predrnn_keras.export import export_saved_model
from tests.workflow_helpers import run_python
from tests.workflow_helpers import run_script
from tests.workflow_helpers import script_env
from tests.workflow_helpers import tiny_recipe

# Runs in a new Python process: TensorFlow alone, no Keras, no predrnn_keras.
RELOAD = """
import sys
import numpy as np
import tensorflow as tf

served = tf.saved_model.load(sys.argv[1])
for name in sys.argv[2:]:
    context = np.load(name)
    out = served.serve(tf.constant(context))["predictions"]
    np.save(name.replace("context", "served"), out.numpy())
    signature = served.signatures["serving_default"]
    out = signature(context=tf.constant(context))["predictions"]
    np.save(name.replace("context", "signature"), out.numpy())
"""


def tiny_model(seed=0):
    recipe = recipe_config.recipe_from_dict(tiny_recipe())
    model = recipe_config.build_model(recipe)
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        weight.assign(rng.normal(0, 0.3, tuple(weight.shape)).astype("float32"))
    return model


@pytest.mark.large
def test_saved_model_reloads_in_a_fresh_process_with_equal_predictions(
    tmp_path,
):
    model = tiny_model()
    # Horizon 7: longer than the model was trained for (2).
    info = export_saved_model(model, tmp_path / "exported", horizon=7)
    assert info["max_abs_difference"] <= 1e-5
    assert "[batch, 3, 16, 16, 1]" in info["signature"]

    rng = np.random.default_rng(1)
    names = []
    for batch in (1, 3):  # the batch size is free
        context = rng.random((batch, 3, 16, 16, 1), dtype=np.float32)
        name = tmp_path / f"context{batch}.npy"
        np.save(name, context)
        names.append(name)
    run_python("-c", RELOAD, tmp_path / "exported", *names)
    for name in names:
        context = np.load(name)
        expected = model.predict_future(context, 7)
        for kind in ("served", "signature"):
            out = np.load(str(name).replace("context", kind))
            assert out.shape == (len(context), 7, 16, 16, 1)
            np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)


def test_export_never_overwrites(tmp_path):
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "saved_model.pb").write_text("an older export")
    with pytest.raises(ExportError, match="--overwrite"):
        export_saved_model(tiny_model(), folder, horizon=2)
    assert (folder / "saved_model.pb").read_text() == "an older export"


@pytest.mark.large
def test_evaluate_script_exports(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    recipe = recipe_config.recipe_from_dict(tiny_recipe())
    recipe_config.dump_recipe(recipe, run_dir / "recipe.toml")
    model = tiny_model()
    model.optimizer.build(model.trainable_variables)
    model.save(run_dir / "last.keras")
    done = run_script(
        "evaluate.py",
        run_dir,
        "--export",
        tmp_path / "exported",
        "--export-only",
        "--set",
        "evaluate.horizon=3",
    )
    assert done.returncode == 0, done.stderr
    assert "serve(context: float32 [batch, 3, 16, 16, 1])" in done.stdout
    assert (tmp_path / "exported" / "saved_model.pb").is_file()
    assert not (run_dir / "evaluation").exists()
    import tensorflow as tf

    served = tf.saved_model.load(str(tmp_path / "exported"))
    context = np.random.default_rng(2).random((2, 3, 16, 16, 1), np.float32)
    out = served.serve(tf.constant(context))["predictions"].numpy()
    np.testing.assert_allclose(
        out, model.predict_future(context, 3), atol=1e-5, rtol=0
    )

    # The module's own command line takes the run folder too (its best
    # model, else the last).
    run_python(
        "-m",
        "predrnn_keras.export",
        run_dir,
        tmp_path / "module-export",
        "--horizon",
        "3",
        env=dict(script_env(), KERAS_BACKEND="tensorflow"),
    )
    served = tf.saved_model.load(str(tmp_path / "module-export"))
    out = served.serve(tf.constant(context))["predictions"].numpy()
    np.testing.assert_allclose(
        out, model.predict_future(context, 3), atol=1e-5, rtol=0
    )
