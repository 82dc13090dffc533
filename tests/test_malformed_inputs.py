"""A battery of malformed inputs through the command lines: each is one line
on stderr naming the file and the key or shape at fault, exit status 2, and
no existing folder is touched."""

import hashlib
import shutil
import zipfile

import numpy as np
import pytest

from predrnn_keras.cli import evaluate as evaluate_cli
from predrnn_keras.cli import predict as predict_cli
from predrnn_keras.cli import train as train_cli
from predrnn_keras.training import train
from predrnn_keras import recipe_config
from tests.workflow_helpers import tiny_recipe
from tests.workflow_helpers import write_recipe

pytestmark = pytest.mark.large


def snapshot(folder):
    """Every file under `folder` with its digest."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A finished tiny run, its recipe, and files to break."""
    root = tmp_path_factory.mktemp("battery")
    run_dir = root / "run"
    result = train(
        recipe_config.recipe_from_dict(tiny_recipe()), run_dir, verbose=0
    )
    assert result.status == "finished"
    write_recipe(root / "good.toml", tiny_recipe())
    rng = np.random.default_rng(0)
    np.save(root / "clips.npy", rng.uniform(0, 1, (2, 4, 16, 16)).astype("f4"))
    return root


def toml(place, name, text):
    path = place / "cases" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def recipe_file(place, name, **sections):
    path = place / "cases" / name
    path.parent.mkdir(exist_ok=True)
    return write_recipe(path, tiny_recipe(**sections))


def data_recipe(place, name, data):
    """The tiny recipe with `data` as its whole [data] table."""
    raw = tiny_recipe()
    raw["data"] = data
    path = place / "cases" / name
    path.parent.mkdir(exist_ok=True)
    return write_recipe(path, raw)


def array_recipe(place, name, array_file, **data):
    return data_recipe(
        place, name,
        {"kind": "array", "train_path": str(array_file),
         "val_path": str(array_file), "test_path": str(array_file), **data},
    )


def save(place, name, array):
    path = place / "cases" / name
    path.parent.mkdir(exist_ok=True)
    np.save(path, array)
    return path


def truncated(place, source, name):
    path = place / "cases" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(source.read_bytes()[:300])
    return path


def good(place):
    return place / "good.toml"


def clips(place, name, shape, dtype="f4", fill=None):
    array = np.random.default_rng(1).uniform(0, 1, shape).astype(dtype)
    if fill is not None:
        array.flat[-1] = fill
    return save(place, name, array)


# Each case: (command, make(place) -> argv, words the message must hold).
# `{place}` in the words is the fixture's folder.
CASES = {
    # -- recipes
    "recipe missing": ("train", lambda p: [str(p / "none.toml")],
                       ["none.toml"]),
    "recipe not toml": ("train", lambda p: [str(toml(p, "bad.toml",
                        "[train\niterations = 3"))], ["bad.toml"]),
    "unknown section": ("train", lambda p: [str(toml(p, "s.toml",
                        "[trian]\niterations = 3\n"))], ["trian"]),
    "unknown key": ("train", lambda p: [str(recipe_file(p, "k.toml",
                    train={"iteratons": 3}))], ["iteratons"]),
    "wrong type": ("train", lambda p: [str(recipe_file(p, "t.toml",
                   train={"batch_size": "eight"}))], ["batch_size", "eight"]),
    "negative iterations": ("train", lambda p: [str(recipe_file(p, "n.toml",
                            train={"iterations": -4}))], ["iterations"]),
    "empty num_hidden": ("train", lambda p: [str(recipe_file(p, "h.toml",
                         model={"num_hidden": []}))], ["num_hidden"]),
    "patch does not divide": ("train", lambda p: [str(recipe_file(p,
                              "p.toml", model={"patch_size": 5}))],
                              ["patch_size"]),
    "context longer than sequence": ("train", lambda p: [str(recipe_file(
                                     p, "c.toml", model={"input_length": 9}
                                     ))], ["input_length"]),
    "unknown data kind": ("train", lambda p: [str(recipe_file(p, "d.toml",
                          data={"kind": "movies"}))], ["movies"]),
    "bad precision": ("train", lambda p: [str(good(p)), "--set",
                      "train.precision='half'"], ["precision", "half"]),
    "set without equals": ("train", lambda p: [str(good(p)), "--set",
                           "train.iterations"], ["train.iterations"]),
    "set unknown key": ("train", lambda p: [str(good(p)), "--set",
                        "train.epochs=3"], ["epochs"]),
    "set bad toml value": ("train", lambda p: [str(good(p)), "--set",
                           "train.iterations=[1,"], ["train.iterations"]),
    # -- data files
    "array file missing": ("train", lambda p: [str(array_recipe(p, "a1.toml",
                           p / "nowhere.npy"))], ["nowhere.npy"]),
    "array truncated": ("train", lambda p: [str(array_recipe(p, "a2.toml",
                        truncated(p, p / "clips.npy", "cut.npy")))],
                        ["cut.npy"]),
    "array empty file": ("train", lambda p: [str(array_recipe(p, "a3.toml",
                         toml(p, "empty.npy", "")))], ["empty.npy"]),
    "array of 3 dims": ("train", lambda p: [str(array_recipe(p, "a4.toml",
                        clips(p, "flat.npy", (4, 16, 16))))],
                        ["flat.npy", "(4, 16, 16)"]),
    "array of no sequences": ("train", lambda p: [str(array_recipe(p,
                              "a5.toml", clips(p, "none.npy", (0, 6, 16, 16))
                              ))], ["none.npy", "(0, 6, 16, 16)"]),
    "array too short": ("train", lambda p: [str(array_recipe(p, "a6.toml",
                        clips(p, "short.npy", (4, 2, 16, 16))))],
                        ["short.npy", "total_length"]),
    "array signed ints": ("train", lambda p: [str(array_recipe(p, "a7.toml",
                          clips(p, "int.npy", (4, 6, 16, 16), "i2")))],
                          ["int.npy", "int16", "value_range"]),
    "array strings": ("train", lambda p: [str(array_recipe(p, "a8.toml",
                      save(p, "str.npy", np.full((4, 6, 16, 16), "a"))))],
                      ["str.npy"]),
    "npz two arrays": ("train", lambda p: [str(array_recipe(p, "a9.toml",
                       npz(p, "two.npz", a=np.zeros((4, 6, 16, 16)),
                           b=np.zeros(3))))], ["two.npz", "key"]),
    "npz not a zip": ("train", lambda p: [str(array_recipe(p, "a10.toml",
                      toml(p, "fake.npz", "not a zip")))], ["fake.npz"]),
    "frames folder empty": ("train", lambda p: [str(data_recipe(p,
                            "f1.toml", frames_data(p, "noframes")))],
                            ["noframes"]),
    "frame not an image": ("train", lambda p: [str(data_recipe(p,
                           "f2.toml", frames_data(p, "badpng", True)))],
                           ["frame_3.png"]),
    # -- run folders and models
    "run dir is a file": ("train", lambda p: [str(good(p)), "--run-dir",
                          str(toml(p, "afile", "x"))], ["afile"]),
    "run dir of other files": ("train", lambda p: [str(good(p)),
                               "--run-dir", str(other_folder(p))],
                               ["others", "not a run folder"]),
    "run dir of another recipe": ("train", lambda p: [str(recipe_file(p,
                                  "o.toml", model={"num_hidden": [8, 8]})),
                                  "--run-dir", str(p / "run")],
                                  ["run", "num_hidden"]),
    "init from nowhere": ("train", lambda p: [str(good(p)), "--init-from",
                          str(p / "gone.keras"), "--run-dir",
                          str(p / "new1")], ["gone.keras"]),
    "init from truncated model": ("train", lambda p: [str(good(p)),
                                  "--init-from", str(truncated(p,
                                  p / "run" / "last.keras", "t1.keras")),
                                  "--run-dir", str(p / "new2")],
                                  ["t1.keras"]),
    "init from another architecture": ("train", lambda p: [str(recipe_file(
                                       p, "w.toml", model={"num_hidden":
                                       [8, 8]})), "--init-from",
                                       str(p / "run"), "--run-dir",
                                       str(p / "new3")],
                                       ["best.keras", "st_lstm_0", "(3, 3, 16, 56)"]),
    # -- evaluate
    "evaluate nowhere": ("evaluate", lambda p: [str(p / "gone")], ["gone"]),
    "evaluate folder without model": ("evaluate", lambda p: [str(
                                      empty_run(p))], ["emptyrun"]),
    "evaluate bare model": ("evaluate", lambda p: [str(shutil.copy(
                            p / "run" / "best.keras", p / "cases" /
                            "bare.keras"))], ["bare.keras", "--recipe"]),
    "evaluate truncated model": ("evaluate", lambda p: [str(truncated(p,
                                 p / "run" / "best.keras", "t2.keras")),
                                 "--recipe", str(good(p))], ["t2.keras"]),
    "evaluate out not empty": ("evaluate", lambda p: [str(p / "run"),
                               "--out", str(other_folder(p))], ["others"]),
    "evaluate bad override": ("evaluate", lambda p: [str(p / "run"), "--set",
                              "evaluate.horizon='ten'"], ["horizon"]),
    # -- predict
    "predict input missing": ("predict", lambda p: [str(p / "gone.npy")],
                              ["gone.npy"]),
    "predict wrong size": ("predict", lambda p: [str(clips(p, "big.npy",
                           (5, 32, 32)))], ["big.npy", "(32, 32, 1)"]),
    "predict wrong channels": ("predict", lambda p: [str(clips(p, "rgb.npy",
                               (5, 16, 16, 3)))], ["rgb.npy", "3 channel"]),
    "predict too short": ("predict", lambda p: [str(clips(p, "two.npy",
                          (2, 16, 16)))], ["two.npy", "2 frame"]),
    "predict wrong type": ("predict", lambda p: [str(toml(p, "notes.txt",
                           "hello"))], ["notes.txt"]),
    "predict values out of range": ("predict", lambda p: [str(save(p,
                                    "hot.npy", np.full((5, 16, 16), 3.0,
                                    "f4")))], ["hot.npy"]),
    "predict NaN": ("predict", lambda p: [str(clips(p, "nan.npy",
                    (5, 16, 16), fill=np.nan))],
                    ["nan.npy", "frame 4 holds NaN"]),
    "predict npz two arrays": ("predict", lambda p: [str(npz(p, "pair.npz",
                               a=np.zeros((5, 16, 16), "f4"),
                               b=np.zeros((5, 16, 16), "f4")))],
                               ["pair.npz", "--key"]),
    "predict truncated model": ("predict", lambda p: [str(p / "clips.npy"),
                                "--model", str(truncated(p, p / "run" /
                                "best.keras", "t3.keras"))], ["t3.keras"]),
    "predict out is a file": ("predict", lambda p: [str(p / "clips.npy"),
                              "--out", str(toml(p, "outfile", "x"))],
                              ["outfile"]),
}


def npz(place, name, **arrays):
    path = place / "cases" / name
    path.parent.mkdir(exist_ok=True)
    np.savez(path, **arrays)
    return path


def frames_data(place, name, broken=False):
    folder = place / "cases" / name
    (folder / "clip").mkdir(parents=True, exist_ok=True)
    if broken:
        import imageio.v3 as iio

        for i in range(6):
            iio.imwrite(folder / "clip" / f"frame_{i}.png",
                        np.zeros((16, 16), np.uint8))
        (folder / "clip" / "frame_3.png").write_bytes(b"\x89PNG broken")
    return {"kind": "frames", "train_path": str(folder),
            "val_path": str(folder), "test_path": str(folder)}


def other_folder(place):
    folder = place / "cases" / "others"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("keep")
    return folder


def empty_run(place):
    folder = place / "cases" / "emptyrun"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(place / "run" / "recipe.toml", folder / "recipe.toml")
    return folder


MAINS = {
    "train": train_cli.main,
    "evaluate": evaluate_cli.main,
    "predict": predict_cli.main,
}


def test_the_battery_has_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input(name, place, capsys, tmp_path, monkeypatch):
    command, make, words = CASES[name]
    monkeypatch.chdir(tmp_path)  # default outputs (runs/, predictions/)
    argv = [str(a) for a in make(place)]
    if command in ("predict",) and "--model" not in argv:
        argv += ["--model", str(place / "run")]
    if command == "train" and "--run-dir" not in argv:
        argv += ["--run-dir", str(tmp_path / "new-run")]
    argv.append("--quiet")
    before = snapshot(place)
    capsys.readouterr()
    status = MAINS[command](argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2, err
    assert len(err) == 1, err
    assert err[0].startswith("error: "), err
    for word in words:
        assert word in err[0], (word, err[0])
    # Nothing that existed was changed, nothing new was made.
    assert snapshot(place) == before
    assert not (tmp_path / "new-run").exists()
    assert not list(tmp_path.glob("predictions*"))
    assert not list(tmp_path.glob("runs"))
