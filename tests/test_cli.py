"""The console scripts of pyproject.toml resolve and answer `--help`."""

import importlib
import subprocess
import sys
import tomllib

import pytest

from tests.workflow_helpers import REPO
from tests.workflow_helpers import script_env

SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
    "scripts"
]


def test_the_five_commands_are_declared():
    assert sorted(SCRIPTS) == [
        "predrnn-convert",
        "predrnn-evaluate",
        "predrnn-package",
        "predrnn-predict",
        "predrnn-train",
    ]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_entry_point_resolves_and_helps(name, capsys):
    module, function = SCRIPTS[name].split(":")
    main = getattr(importlib.import_module(module), function)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")


@pytest.mark.parametrize("script", ["train.py", "evaluate.py", "predict.py"])
def test_the_scripts_run_the_same_commands(script):
    done = subprocess.run(
        [sys.executable, str(REPO / script), "--help"],
        env=script_env(), cwd=REPO, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    name = "predrnn-" + script.removesuffix(".py")
    module = importlib.import_module(SCRIPTS[name].split(":")[0])
    # The same parser: the help differs only in the program's name.
    assert f"usage: {script}" in done.stdout
    assert module.__doc__.splitlines()[-2] in done.stdout


@pytest.mark.parametrize(
    "module",
    ["predrnn_keras.predict", "predrnn_keras.cli.predict",
     "predrnn_keras.pretrained", "predrnn_keras.cli.package"],
)
def test_command_modules_import_without_keras(module):
    # `python -m` imports them before main() can configure the runtime.
    done = subprocess.run(
        [sys.executable, "-c",
         f"import sys, {module}; print('keras' in sys.modules, "
         "'tensorflow' in sys.modules)"],
        env=script_env(), cwd=REPO, capture_output=True, text=True,
        timeout=120, check=True,
    )
    assert done.stdout.split() == ["False", "False"]


def test_python_m_predict_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "predrnn_keras.predict", "--help"],
        env=script_env(), cwd=REPO, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--convert-channels" in done.stdout
