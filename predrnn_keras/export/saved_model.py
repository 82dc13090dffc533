"""Exporting a trained model as a TensorFlow SavedModel for serving.

The SavedModel has one endpoint, `serve` (also the `serving_default`
signature): context frames `(batch, context_length, height, width,
channels)` float32 in [0, 1] in, `{"predictions": (batch, horizon, height,
width, channels)}` out, any batch size. It runs the same test-time rollout
as `model.rollout`: true context frames, then the model's own predictions.

TensorFlow and JAX models export in this process (`ExportArchive`); a
PyTorch model is saved as `.keras` and exported by a TensorFlow-backend
subprocess (Keras cannot trace torch into a TF graph), which gives the same
graph as a model trained under TensorFlow.

Example (after training):

>>> import tensorflow as tf
>>> export_saved_model(model, "exported/quickstart", horizon=10)
>>> served = tf.saved_model.load("exported/quickstart")
>>> future = served.serve(context)           # (batch, 10, 64, 64, 1)
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np

ENDPOINT = "serve"
OUTPUT_KEY = "predictions"


class ExportError(RuntimeError):
    """The export failed or its predictions differ from the model's."""


def _frame_shape(model):
    if model.frame_shape is None:
        raise ExportError("Expected a built model (call it or load it first).")
    return tuple(model.frame_shape)


def export_in_process(model, export_dir, horizon: int, context_length: int):
    """Writes the SavedModel from a TensorFlow or JAX model."""
    shape = _frame_shape(model)
    # A reloaded subclassed model must have run once before it is traced.
    model.predict_future(
        np.zeros((1, context_length, *shape), "float32"), 1, verbose=0
    )
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(context):
        return {OUTPUT_KEY: model.rollout(context, horizon)}

    archive.add_endpoint(
        name=ENDPOINT,
        fn=serve,
        input_signature=[
            keras.InputSpec(
                shape=(None, context_length, *shape),
                dtype="float32",
                name="context",
            )
        ],
    )
    archive.write_out(str(export_dir), verbose=False)


def _package_root() -> str:
    """The folder that holds the `predrnn_keras` package."""
    return str(Path(__file__).resolve().parents[2])


def export_in_subprocess(model_path, export_dir, horizon, context_length):
    """Exports a `.keras` file in a TensorFlow-backend Python process."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_package_root(), env.get("PYTHONPATH")) if p
    )
    command = [
        sys.executable,
        "-m",
        "predrnn_keras.export",
        str(model_path),
        str(export_dir),
        "--horizon",
        str(horizon),
        "--context-length",
        str(context_length),
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ExportError(
            "The TensorFlow export process failed:\n" + done.stderr[-3000:]
        )


def check_export(model, export_dir, horizon, context_length, seed=0):
    """Max |difference| between the SavedModel and the Keras model on
    random context frames (two sequences)."""
    import tensorflow as tf

    shape = _frame_shape(model)
    rng = np.random.default_rng(seed)
    context = rng.random((2, context_length, *shape), dtype=np.float32)
    served = tf.saved_model.load(str(export_dir))
    exported = getattr(served, ENDPOINT)(tf.constant(context))[OUTPUT_KEY]
    expected = model.predict_future(context, horizon)
    return float(np.max(np.abs(np.asarray(exported) - expected)))


def export_saved_model(
    model,
    export_dir,
    horizon: int,
    context_length: "int | None" = None,
    overwrite: bool = False,
    check: bool = True,
    tolerance: float = 1e-5,
) -> dict:
    """Exports `model` as a SavedModel that predicts `horizon` frames.

    Args:
        model: a built `PredRNN` / `PredRNNV2` (any backend).
        export_dir: the SavedModel folder; it must not exist (or be empty)
            unless `overwrite`.
        horizon: frames predicted per call.
        context_length: context frames per call (default
            `model.input_length`).
        overwrite: replace an existing export.
        check: reload the export and compare it with the model.
        tolerance: the largest difference `check` accepts.

    Returns:
        `{"path", "signature", "max_abs_difference"}`.

    Raises:
        ExportError: the folder exists, the export failed, or its predictions
            differ from the model's by more than `tolerance`.
    """
    export_dir = Path(export_dir)
    context_length = context_length or model.input_length
    if export_dir.exists() and any(export_dir.iterdir()):
        if not overwrite:
            raise ExportError(
                f"{export_dir} exists and is not empty; choose another folder "
                "or pass --overwrite."
            )
        import shutil

        shutil.rmtree(export_dir)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    if keras.backend.backend() in ("tensorflow", "jax"):
        export_in_process(model, export_dir, horizon, context_length)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            model.save(path)
            export_in_subprocess(path, export_dir, horizon, context_length)
    shape = _frame_shape(model)
    info = {
        "path": str(export_dir),
        "signature": (
            f"{ENDPOINT}(context: float32 [batch, {context_length}, "
            f"{', '.join(map(str, shape))}]) -> {{'{OUTPUT_KEY}': float32 "
            f"[batch, {horizon}, {', '.join(map(str, shape))}]}}"
        ),
        "max_abs_difference": None,
    }
    if check:
        difference = check_export(model, export_dir, horizon, context_length)
        info["max_abs_difference"] = difference
        if not difference <= tolerance:
            raise ExportError(
                f"The SavedModel in {export_dir} predicts up to {difference:g} "
                f"away from the Keras model (tolerance {tolerance:g})."
            )
    return info
