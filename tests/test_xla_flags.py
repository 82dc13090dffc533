import importlib.util
import os

import pytest

from predrnn_keras.xla_flags import KEEP_VARIABLE
from predrnn_keras.xla_flags import YNN_FUSION_FLAG
from predrnn_keras.xla_flags import default_jax_cpu_flags
from tests.workflow_helpers import REPO
from tests.workflow_helpers import run_python_json


def test_adds_the_flag_after_the_users_flags():
    environ = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert default_jax_cpu_flags(environ, jaxlib_version=(0, 10))
    assert environ["XLA_FLAGS"] == (
        "--xla_force_host_platform_device_count=2 "
        "--xla_cpu_experimental_ynn_fusion_type="
    )
    # Idempotent: a second call adds nothing.
    assert not default_jax_cpu_flags(environ, jaxlib_version=(0, 10))
    assert environ["XLA_FLAGS"].count(YNN_FUSION_FLAG) == 1


def test_starts_xla_flags_when_unset():
    environ = {}
    assert default_jax_cpu_flags(environ, jaxlib_version=(0, 10, 2))
    assert environ == {"XLA_FLAGS": YNN_FUSION_FLAG + "="}


@pytest.mark.parametrize(
    "environ, version",
    [
        # The user's own value of the flag wins.
        ({"XLA_FLAGS": YNN_FUSION_FLAG + "=individual_dot"}, (0, 10)),
        # Opted out.
        ({KEEP_VARIABLE: "1"}, (0, 10)),
        # Unmeasured jaxlib releases, where XLA might not know the flag
        # (XLA aborts on unknown flags), or no jaxlib at all.
        ({}, (0, 9)),
        ({}, (0, 11)),
        ({}, (1, 10)),
    ],
)
def test_leaves_xla_flags_alone(environ, version):
    before = dict(environ)
    assert not default_jax_cpu_flags(environ, jaxlib_version=version)
    assert environ == before


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed"
)
def test_configure_runtime_on_jax_sets_a_flag_xla_accepts():
    # A fresh process: the flag must be in place before JAX's CPU backend
    # starts, and XLA (which aborts on unknown flags) must compile with it.
    # A plain `import predrnn_keras` leaves XLA_FLAGS alone
    # (tests/test_keras_import.py).
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("XLA_FLAGS", KEEP_VARIABLE)
    }
    env.update(KERAS_BACKEND="jax", PYTHONPATH=str(REPO))
    code = (
        "import json, os, predrnn_keras\n"
        "predrnn_keras.configure_runtime()\n"
        "import jax, jax.numpy as jnp\n"
        "from predrnn_keras.xla_flags import _jaxlib_version\n"
        "x = jnp.ones((1, 6, 6, 2))\n"
        "y = jax.lax.conv_general_dilated(x, jnp.ones((3, 3, 2, 4)), (1, 1),"
        " 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))\n"
        "print(json.dumps([_jaxlib_version(), os.environ.get('XLA_FLAGS'),"
        " float(y[0, 2, 2, 0])]))\n"
    )
    version, flags, value = run_python_json(code, env)
    assert value == 18.0  # a 3 x 3 x 2 window of ones
    if version[:2] == [0, 10]:
        assert flags == YNN_FUSION_FLAG + "="
    else:
        assert flags is None
