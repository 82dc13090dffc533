"""predrnn_keras imports Keras without JAX on TensorFlow and PyTorch."""

import importlib.util
import json
import os

import keras
import pytest

from predrnn_keras.keras_import import BACKENDS_WITHOUT_JAX
from predrnn_keras.keras_import import KEEP_VARIABLE
from predrnn_keras.keras_import import configured_backend
from predrnn_keras.keras_import import hides_jax
from tests.workflow_helpers import REPO
from tests.workflow_helpers import run_python_json

HAS_JAX = importlib.util.find_spec("jax") is not None


def _keras_home(tmp_path, config):
    home = tmp_path / "keras-home"
    home.mkdir()
    if config is not None:
        (home / "keras.json").write_text(config)
    return {"KERAS_HOME": str(home)}


def test_backend_from_the_environment_variable_first(tmp_path):
    environ = _keras_home(tmp_path, json.dumps({"backend": "jax"}))
    assert configured_backend(environ) == "jax"
    environ["KERAS_BACKEND"] = "torch"
    assert configured_backend(environ) == "torch"
    # Keras ignores an empty variable, and so do we.
    environ["KERAS_BACKEND"] = ""
    assert configured_backend(environ) == "jax"


def test_backend_from_keras_json_in_the_default_home(tmp_path):
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text(
        json.dumps({"backend": "torch", "floatx": "float32"})
    )
    assert configured_backend({}, home=str(tmp_path)) == "torch"


@pytest.mark.parametrize(
    "config, expected",
    [
        (None, "tensorflow"),  # no keras.json: Keras' default
        (json.dumps({"floatx": "float32"}), "tensorflow"),
        (json.dumps({"backend": "numpy"}), "numpy"),
        ("{not json", None),  # unsure: JAX is left alone
        (json.dumps(["torch"]), None),
    ],
)
def test_backend_from_keras_json(tmp_path, config, expected):
    assert configured_backend(_keras_home(tmp_path, config)) == expected


@pytest.mark.parametrize(
    "backend, modules, keep, expected",
    [
        ("tensorflow", {}, None, True),
        ("torch", {}, None, True),
        ("torch", {}, "0", True),
        ("jax", {}, None, False),
        ("numpy", {}, None, False),  # Keras' NumPy backend uses JAX
        ("torch", {"keras": object()}, None, False),  # imported already
        ("torch", {"jax": object()}, None, False),  # JAX in use already
        ("torch", {}, "1", False),  # the user's opt-out
    ],
)
def test_hides_jax_only_where_it_cannot_matter(
    backend, modules, keep, expected
):
    environ = {"KERAS_BACKEND": backend}
    if keep is not None:
        environ[KEEP_VARIABLE] = keep
    assert hides_jax(environ, modules) is expected


def _run(code, backend, extra_env=None, pythonpath=str(REPO)):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (KEEP_VARIABLE, "KERAS_BACKEND")
    }
    env.update(KERAS_BACKEND=backend, PYTHONPATH=pythonpath)
    env.update(extra_env or {})
    return run_python_json(code, env)


IMPORT_CODE = (
    "import json, sys, predrnn_keras, keras\n"
    "loaded = 'jax' in sys.modules\n"
    "import jax, jax.numpy as jnp\n"
    "print(json.dumps([keras.backend.backend(), loaded,"
    " float(jnp.ones(3).sum()), hasattr(keras.callbacks, 'OrbaxCheckpoint')]))\n"
)


@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
def test_importing_the_library_leaves_jax_unloaded_until_asked():
    # This run's backend, in a fresh process. Keras itself imports JAX
    # when it is installed, so without the library's care it is loaded.
    backend = keras.backend.backend()
    name, loaded, total, orbax = _run(IMPORT_CODE, backend)
    assert name == backend
    assert loaded is (backend not in BACKENDS_WITHOUT_JAX)
    assert total == 3.0  # JAX imports and runs as usual afterwards
    assert orbax  # Keras' own API is complete


@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
def test_the_opt_out_lets_keras_import_jax():
    backend = keras.backend.backend()
    if backend not in BACKENDS_WITHOUT_JAX:
        pytest.skip("JAX is always loaded on this backend")
    _, loaded, _, _ = _run(IMPORT_CODE, backend, {KEEP_VARIABLE: "1"})
    assert loaded


STANDIN_CODE = (
    "import json, sys\n"
    "from predrnn_keras.keras_import import import_keras\n"
    "module = import_keras('{name}')\n"
    "loaded = 'jax' in sys.modules and sys.modules['jax'] is not None\n"
    "import jax\n"
    "print(json.dumps([module.HAS_JAX, loaded]))\n"
)


@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
@pytest.mark.parametrize(
    "name, body, expected",
    [
        # Like Keras 3.15: JAX optional, so it stays unloaded.
        (
            "optional_jax",
            "try:\n    import jax\n    HAS_JAX = True\n"
            "except ImportError:\n    HAS_JAX = False\n",
            [False, False],
        ),
        # A Keras that needs JAX at import gets it: imported again as usual.
        ("needs_jax", "import jax\nHAS_JAX = True\n", [True, True]),
    ],
)
def test_a_package_that_needs_jax_still_imports(tmp_path, name, body, expected):
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("import json\n" + body)
    result = _run(
        STANDIN_CODE.format(name=name),
        "torch",
        pythonpath=os.pathsep.join([str(REPO), str(tmp_path)]),
    )
    assert result == expected
