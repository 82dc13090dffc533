"""The command lines: `predrnn-train`, `predrnn-evaluate`, `predrnn-predict`,
`predrnn-convert` and `predrnn-package`.

Each `main(argv=None)` parses its arguments, calls
`predrnn_keras.configure_runtime()` before anything imports Keras, then
imports the library and runs it; it returns the exit status. `train.py`,
`evaluate.py` and `predict.py` at the repository's root run the same
commands.
"""

import os

from predrnn_keras.runtime import configure_runtime

BACKENDS = ("tensorflow", "jax", "torch")


def add_backend_argument(parser):
    """Adds `--backend` (default: `$KERAS_BACKEND`, else TensorFlow)."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)",
    )


def add_which_argument(parser, flag):
    """Adds `flag` ("--model" or "--which"): "best" (default) or "last"
    model of a run folder, collected in `which`."""
    parser.add_argument(
        flag,
        dest="which",
        choices=["best", "last"],
        default="best",
        help="which model of a run folder (default: best)",
    )


def add_overrides_argument(parser, example):
    """Adds `--set SECTION.KEY=VALUE` (repeatable), collected in `overrides`."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=f"override a recipe value, as TOML (repeatable): {example}",
    )


def start(backend=None):
    """Quiets TensorFlow's C++ log and runs `configure_runtime(backend)`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return configure_runtime(backend)


def write_failure(error: BaseException, folder=None) -> "str | None":
    """The one-line message of a write that failed for want of space or
    permission (`utils.files.WriteError`, or an `OSError` of that kind from
    anywhere), else None. `folder` is named when the error does not say
    which file it was."""
    from predrnn_keras.utils import files

    if isinstance(error, files.WriteError):
        return str(error)
    if files.write_error_errno(error) is None:
        return None
    path = getattr(error, "filename", None) or folder or "an output file"
    return str(files.as_write_error(error, path))
