"""`import predrnn_keras` changes nothing; `configure_runtime()` imports Keras
without JAX on TensorFlow and PyTorch."""

import importlib.util
import json
import os

import keras
import pytest

import predrnn_keras
from predrnn_keras import runtime
from predrnn_keras import xla_flags
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


# Variables the runtime set-up reads or writes: a fresh process starts
# without them (the test process has its own set-up).
RUNTIME_VARIABLES = (
    KEEP_VARIABLE,
    "KERAS_BACKEND",
    "TF_ENABLE_ONEDNN_OPTS",
    "XLA_FLAGS",
    xla_flags.KEEP_VARIABLE,
)


def _run(code, backend, extra_env=None, pythonpath=str(REPO)):
    env = {k: v for k, v in os.environ.items() if k not in RUNTIME_VARIABLES}
    env.update(KERAS_BACKEND=backend, PYTHONPATH=pythonpath)
    env.update(extra_env or {})
    return run_python_json(code, env)


PLAIN_IMPORT_CODE = (
    "import json, os, sys\n"
    "before = dict(os.environ)\n"
    "import predrnn_keras\n"
    "same = dict(os.environ) == before\n"
    "keras_loaded = 'keras' in sys.modules\n"
    "predrnn_keras.PredRNN  # loads Keras and the models\n"
    "jax_loaded = sys.modules.get('jax') is not None\n"
    "ours = [os.environ.get(k) for k in ('TF_ENABLE_ONEDNN_OPTS', 'XLA_FLAGS')]\n"
    "print(json.dumps([same, ours, keras_loaded, 'keras' in sys.modules,"
    " jax_loaded]))\n"
)


def test_importing_the_library_changes_nothing():
    # A fresh process on this run's backend: the import sets no variable,
    # Keras loads when a name is first used, as Keras imports itself (which
    # sets variables of its own, but neither oneDNN's nor XLA_FLAGS), with
    # JAX where installed.
    same, ours, keras_at_import, keras_after_use, jax_loaded = _run(
        PLAIN_IMPORT_CODE, keras.backend.backend()
    )
    assert same and ours == [None, None]
    assert not keras_at_import and keras_after_use
    assert jax_loaded is HAS_JAX


CONFIGURED_CODE = (
    "import json, os, sys, predrnn_keras\n"
    "done = predrnn_keras.configure_runtime()\n"
    "loaded = 'jax' in sys.modules\n"
    "import keras, jax, jax.numpy as jnp\n"
    "print(json.dumps([done, loaded, float(jnp.ones(3).sum()),"
    " hasattr(keras.callbacks, 'OrbaxCheckpoint'),"
    " os.environ.get('TF_ENABLE_ONEDNN_OPTS')]))\n"
)


@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
def test_configure_runtime_imports_keras_without_jax_until_asked():
    backend = keras.backend.backend()
    done, loaded, total, orbax, onednn = _run(CONFIGURED_CODE, backend)
    without_jax = backend in BACKENDS_WITHOUT_JAX
    assert done["backend"] == backend
    assert done["keras_without_jax"] is without_jax
    assert done["onednn"] and onednn == "1"
    assert loaded is not without_jax
    assert total == 3.0  # JAX imports and runs as usual afterwards
    assert orbax  # Keras' own API is complete


@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
def test_the_opt_out_lets_keras_import_jax():
    backend = keras.backend.backend()
    if backend not in BACKENDS_WITHOUT_JAX:
        pytest.skip("JAX is always loaded on this backend")
    done, loaded, _, _, _ = _run(
        CONFIGURED_CODE, backend, {KEEP_VARIABLE: "1"}
    )
    assert loaded and not done["keras_without_jax"]


# The process's own peak (VmHWM): `ru_maxrss` would include the memory of
# the forked test process it started as, which Linux carries across exec.
PEAK_RSS_CODE = (
    "import json, re\n"
    "{setup}\n"
    "import keras\n"
    "status = open('/proc/self/status').read()\n"
    "kib = int(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
    "print(json.dumps(kib / 1024))\n"
)


@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
@pytest.mark.skipif(
    not os.path.exists("/proc/self/status"), reason="Linux's /proc"
)
def test_the_command_lines_keep_jaxlib_out_of_memory():
    # Peak resident memory of importing Keras as the command lines do
    # (predrnn_keras.cli.start) against a plain `import keras`: jaxlib is
    # about 110 MiB.
    backend = keras.backend.backend()
    if backend not in BACKENDS_WITHOUT_JAX:
        pytest.skip("JAX is always loaded on this backend")
    setup = "from predrnn_keras.cli import start; start()"
    entry_mib = _run(PEAK_RSS_CODE.format(setup=setup), backend)
    plain_mib = _run(PEAK_RSS_CODE.format(setup=""), backend)
    assert entry_mib < plain_mib - 50, (entry_mib, plain_mib)


def test_configure_runtime_runs_once():
    # tests/conftest.py configured this process before Keras loaded.
    first = predrnn_keras.configure_runtime()
    assert predrnn_keras.configure_runtime() is first
    assert first["backend"] == keras.backend.backend()


def test_configure_runtime_after_keras_warns_and_changes_nothing(
    monkeypatch,
):
    monkeypatch.setattr(runtime, "_configured", None)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    environ = dict(os.environ)
    with pytest.warns(RuntimeWarning, match="after Keras was imported"):
        done = predrnn_keras.configure_runtime("torch")
    assert dict(os.environ) == environ
    assert done == {
        "backend": keras.backend.backend(),
        "onednn": False,
        "xla_flags": False,
        "keras_without_jax": False,
    }


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
