"""Layers only look down: the package's imports against tests/layering.py's
order, and the drawing of them in docs/design.md."""

import textwrap

from tests import layering
from tests.layering import LAYER


def test_no_import_goes_up_or_round():
    problems = layering.violations(layering.scan())
    assert not problems, "Layer violations (tests/layering.py):\n" + "\n".join(
        problems
    )


def test_the_drawing_is_current():
    assert layering.drawn() == layering.drawing(), (
        "docs/design.md's package drawing is out of date: run "
        "`python -m tests.layering --write`"
    )


# A small package of the same name: every kind of import the scanner must
# see, and every kind of violation.
FAKE_PACKAGE = {
    "__init__.py": "from predrnn_keras.cli import start\n",
    "cli/__init__.py": "def start():\n    pass\n",
    "utils/__init__.py": "",
    "utils/files.py": (
        "import os\n\n\n"
        "def save():\n"
        "    from predrnn_keras.cli import start\n"  # up, in a function
        "    return start\n"
    ),
    "utils/__main__.py": "import predrnn_keras.training\n",  # cli: down
    "layers/__init__.py": "from predrnn_keras import models\n",  # up
    "models.py": "from . import layers\nfrom .utils import files\n",
    "metrics.py": "import predrnn_keras.plots\n",
    "plots.py": (
        "class Figure:\n"
        "    def draw(self):\n"
        "        from predrnn_keras.metrics import score\n"  # a cycle
        "        return score\n"
    ),
    "training/__init__.py": "import predrnn_keras\n",  # the facade
    "training/loop.py": "from ..recipe_config import load\n",  # down
    "recipe_config.py": "from predrnn_keras.utils.files import save\n",
    "extras.py": "from predrnn_keras import utils\n",  # not in the order
}


def _fake_package(tmp_path):
    root = tmp_path / layering.PACKAGE
    for name, text in FAKE_PACKAGE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_the_scanner_sees_every_import(tmp_path):
    root = _fake_package(tmp_path)
    found = {
        (imp.where(), imp.target) for imp in layering.scan(root)
    }
    assert found == {
        ("predrnn_keras/__init__.py:1", "predrnn_keras.cli"),
        ("predrnn_keras/utils/files.py:5", "predrnn_keras.cli"),
        ("predrnn_keras/utils/__main__.py:1", "predrnn_keras.training"),
        ("predrnn_keras/layers/__init__.py:1", "predrnn_keras.models"),
        ("predrnn_keras/models.py:1", "predrnn_keras.layers"),
        ("predrnn_keras/models.py:2", "predrnn_keras.utils.files"),
        ("predrnn_keras/metrics.py:1", "predrnn_keras.plots"),
        ("predrnn_keras/plots.py:3", "predrnn_keras.metrics"),
        ("predrnn_keras/training/__init__.py:1", "predrnn_keras"),
        ("predrnn_keras/training/loop.py:1", "predrnn_keras.recipe_config"),
        ("predrnn_keras/recipe_config.py:1", "predrnn_keras.utils.files"),
        ("predrnn_keras/extras.py:1", "predrnn_keras.utils"),
    }


def _edge(a, b):
    return f"(layer {LAYER[a]} {a} -> layer {LAYER[b]} {b})"


def test_the_scanner_reports_each_violation(tmp_path):
    root = _fake_package(tmp_path)
    cycle = "in a cycle of metrics, plots"
    assert layering.violations(layering.scan(root)) == [
        "predrnn_keras/extras.py:1: group 'extras' is not in "
        "tests/layering.py's LAYERS",
        "predrnn_keras/layers/__init__.py:1 imports predrnn_keras.models "
        + _edge("layers", "models"),
        "predrnn_keras/training/__init__.py:1 imports predrnn_keras "
        + _edge("training", "facade"),
        "predrnn_keras/utils/files.py:5 imports predrnn_keras.cli "
        + _edge("utils", "cli"),
        "predrnn_keras/metrics.py:1 imports predrnn_keras.plots "
        f"{_edge('metrics', 'plots')}, {cycle}",
        "predrnn_keras/plots.py:3 imports predrnn_keras.metrics "
        f"{_edge('plots', 'metrics')}, {cycle}",
    ]


def test_the_drawing_shows_layers_and_upward_imports(tmp_path):
    root = _fake_package(tmp_path)
    text = layering.drawing(root)
    top = LAYER["cli"]
    assert text.startswith("| layer | groups |\n|---|---|\n| 0 base | `utils`")
    assert f"| {top} command lines | `cli` and every `__main__.py` |" in text
    assert "\n\n```mermaid\nflowchart TB\n" in text
    assert f'    subgraph L{top}["{top} command lines"]\n        cli\n' in text
    # Upward imports dashed and red; the facade's own imports left out.
    assert "    layers -. up .-> models\n" in text
    assert "    models --> layers\n" in text
    assert "    training -. up .-> facade\n" in text
    assert "    facade --> cli" not in text
    assert "    metrics -. cycle .-> plots\n" in text
    assert "linkStyle" in text
