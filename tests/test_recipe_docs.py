"""docs/recipes.md: generated from the recipe schema, and up to date."""

from predrnn_keras.data import data_keys
from predrnn_keras.recipe_docs import COMMAND
from predrnn_keras.recipe_docs import DOCS_PATH
from predrnn_keras.recipe_docs import main
from predrnn_keras.recipe_docs import render
from predrnn_keras.recipe_schema import SCHEMA


def test_docs_recipes_md_is_up_to_date():
    text = DOCS_PATH.read_text() if DOCS_PATH.is_file() else ""
    assert text == render(), (
        f"{DOCS_PATH} differs from the recipe schema: regenerate it with "
        f"`{COMMAND}` and commit it."
    )


def test_every_key_is_documented():
    text = render()
    for section, fields in SCHEMA.items():
        assert f"## [{section}]" in text
        for key, field in fields.items():
            assert field.doc, f"{section}.{key} has no doc"
            assert f"| `{key}` |" in text
    for kind, keys in data_keys().items():
        assert f'### kind = "{kind}"' in text
        for key in keys:
            assert f"| `{key}` |" in text


def test_variant_defaults_are_shown_per_variant():
    text = render()
    row = next(line for line in text.splitlines() if "| `sampling` |" in line)
    assert 'predrnn: `"scheduled"`<br>predrnn_v2: `"reverse"`' in row
    row = next(line for line in text.splitlines() if "| `fast_paths` |" in line)
    assert '| `"auto"` |' in row


def test_command_writes_the_file(tmp_path, capsys):
    output = tmp_path / "recipes.md"
    assert main(["--output", str(output)]) == 0
    assert output.read_text() == render()
    assert str(output) in capsys.readouterr().out
