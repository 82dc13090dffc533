"""`import predrnn_keras` changes nothing and loads no framework;
`configure_runtime()` imports Keras without JAX on TensorFlow and PyTorch;
the package's classes register with Keras whatever the import order."""

import importlib.util
import json
import os
import sys

import keras
import numpy as np
import pytest

import predrnn_keras
from predrnn_keras import keras_import
from predrnn_keras import runtime
from predrnn_keras import xla_flags
from predrnn_keras.keras_import import BACKENDS_WITHOUT_JAX
from predrnn_keras.keras_import import KEEP_VARIABLE
from predrnn_keras.keras_import import configured_backend
from predrnn_keras.keras_import import hides_jax
from predrnn_keras.keras_import import import_after_keras
from predrnn_keras.models import PredRNN
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
    "keras_loaded = [m for m in ('keras', 'tensorflow', 'jax', 'torch')"
    " if m in sys.modules]\n"
    "predrnn_keras.PredRNN  # loads Keras and the models\n"
    "jax_loaded = sys.modules.get('jax') is not None\n"
    "ours = [os.environ.get(k) for k in ('TF_ENABLE_ONEDNN_OPTS', 'XLA_FLAGS')]\n"
    "print(json.dumps([same, ours, keras_loaded, 'keras' in sys.modules,"
    " jax_loaded]))\n"
)


def test_importing_the_library_changes_nothing():
    # A fresh process on this run's backend: the import sets no variable
    # and loads no framework; Keras loads when a name is first used, as
    # Keras imports itself (which sets variables of its own, but neither
    # oneDNN's nor XLA_FLAGS), with JAX where installed.
    same, ours, frameworks_at_import, keras_after_use, jax_loaded = _run(
        PLAIN_IMPORT_CODE, keras.backend.backend()
    )
    assert same and ours == [None, None]
    assert frameworks_at_import == [] and keras_after_use
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


LOAD_CODE = (
    "import json\n"
    "{imports}\n"
    "import numpy as np\n"
    "model = keras.saving.load_model({path!r})\n"
    "out = model.predict(np.load({inputs!r}), verbose=0)\n"
    "print(json.dumps([type(model).__name__, out.tolist()]))\n"
)


@pytest.mark.parametrize(
    "imports",
    [
        "import predrnn_keras\nimport keras",
        "import keras\nimport predrnn_keras",
        "import predrnn_keras\npredrnn_keras.configure_runtime()\n"
        "import keras",
        # Keras first imported by a module of the package while it loads.
        "from predrnn_keras.layers import PredRNNCell\nimport keras",
    ],
    ids=["package-first", "keras-first", "configured", "by-a-layer"],
)
def test_a_saved_model_loads_whatever_the_import_order(tmp_path, imports):
    model = PredRNN(num_hidden=[4], filter_size=3, patch_size=2,
                    input_length=2, seed=0)
    inputs = np.random.default_rng(0).random((1, 4, 4, 4, 1), "float32")
    expected = model.predict(inputs, verbose=0)
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "inputs.npy", inputs)
    name, out = _run(
        LOAD_CODE.format(
            imports=imports,
            path=str(tmp_path / "model.keras"),
            inputs=str(tmp_path / "inputs.npy"),
        ),
        keras.backend.backend(),
    )
    assert name == "PredRNN"
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    """A folder on `sys.path` for stand-in packages; the modules imported
    from it, the finder and `sys.meta_path` are undone afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setattr(keras_import, "_waiting", {})
    before = set(sys.modules)

    def write(files):
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        importlib.invalidate_caches()

    yield write
    for name in set(sys.modules) - before:
        del sys.modules[name]


# `fake_keras` stands in for Keras, `fake_pkg` for this package:
# `fake_pkg.a` imports fake_keras while it loads, and `fake_pkg.after`
# needs `fake_pkg.a` complete.
STAND_INS = {
    "fake_keras.py": "LOADED = True\n",
    "fake_pkg/__init__.py": "",
    "fake_pkg/a.py": "import fake_keras\nVALUE = 1\n",
    "fake_pkg/after.py": "from fake_pkg.a import VALUE\n",
}


def _follow(modules=("fake_pkg.after",)):
    import_after_keras(list(modules), package="fake_pkg", name="fake_keras")


def test_modules_follow_a_plain_import(stand_ins):
    stand_ins(STAND_INS)
    _follow()
    assert "fake_pkg.after" not in sys.modules
    import fake_keras  # noqa: F401

    assert sys.modules["fake_pkg.after"].VALUE == 1
    assert keras_import._waiting == {}
    assert not any(
        isinstance(f, keras_import._AfterImport) for f in sys.meta_path
    )


def test_modules_follow_once_the_importing_module_has_loaded(stand_ins):
    stand_ins(STAND_INS)
    _follow()
    from fake_pkg import a  # imports the fake_keras half-way

    assert a.VALUE == sys.modules["fake_pkg.after"].VALUE == 1


def test_modules_load_at_once_after_the_trigger(stand_ins):
    stand_ins(STAND_INS)
    import fake_keras  # noqa: F401

    _follow()
    assert sys.modules["fake_pkg.after"].VALUE == 1
    assert keras_import._waiting == {}


def test_a_failing_module_warns_and_the_import_succeeds(stand_ins):
    stand_ins({**STAND_INS, "fake_pkg/broken.py": "raise ImportError('no')\n"})
    _follow(["fake_pkg.broken", "fake_pkg.after"])
    with pytest.warns(RuntimeWarning, match="Importing fake_pkg.broken after "
                      "fake_keras failed .ImportError: no."):
        import fake_keras
    assert fake_keras.LOADED and sys.modules["fake_pkg.after"].VALUE == 1


AFTER_HIDDEN_JAX_CODE = (
    "import json, sys\n"
    "from predrnn_keras import keras_import\n"
    "keras_import.import_after_keras(['follower'], package='follower',"
    " name='optional_jax')\n"
    "module = keras_import.import_keras('optional_jax')\n"
    "import follower\n"
    "print(json.dumps([module.HAS_JAX, follower.HAS_JAX]))\n"
)


@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
def test_modules_follow_import_keras_after_jax_is_visible(tmp_path):
    # Keras imports without JAX; the modules that follow it see JAX.
    optional_jax = (
        "try:\n    import jax\n    HAS_JAX = True\n"
        "except ImportError:\n    HAS_JAX = False\n"
    )
    (tmp_path / "optional_jax").mkdir()
    (tmp_path / "optional_jax" / "__init__.py").write_text(optional_jax)
    (tmp_path / "follower.py").write_text(optional_jax)
    result = _run(
        AFTER_HIDDEN_JAX_CODE,
        "torch",
        pythonpath=os.pathsep.join([str(REPO), str(tmp_path)]),
    )
    assert result == [False, True]
