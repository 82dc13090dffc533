"""The run folder: recipe, checkpoints, state, models and logs of one run.

```
runs/quickstart/
  recipe.toml           the merged recipe of the run (written once)
  state.json            the latest checkpoint: iteration, epoch, best score
  checkpoints/          ckpt-0000300.keras ... (the newest few)
  best.keras            the model with the best validation MSE so far
  last.keras            the model of the latest checkpoint
  logs/train, logs/validation   TensorBoard of training
  evaluation/, evaluation-2/    outputs of `evaluate`, logs in logs/<name>
```

This module is the one place that knows these names: training writes the
folder through `RunFolder`, evaluation and export find their model with
`resolve_target`.

`state.json` is the commit record: it is rewritten (atomically) only after
the checkpoint it names is complete, so the newest state always points at a
whole checkpoint, whatever moment a run is killed at. A file damaged later
(a disk error, a copy cut short) is not the end of a run: `load_newest`
tries the models newest first, and training moves a damaged checkpoint
aside (`<name>.damaged`, never deleted) and rebuilds the state from the
newest checkpoint that loads.
"""

import json
import os
import re
import shutil
import sys
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, no protection.
    fcntl = None

from predrnn_keras import recipe_config
from predrnn_keras import pretrained
from predrnn_keras.utils import files

RECIPE_FILE = recipe_config.RECIPE_FILE
STATE_FILE = "state.json"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
BEST_MODEL = "best.keras"
LAST_MODEL = "last.keras"
EVALUATION_DIR = "evaluation"
LOCK_FILE = ".lock"
MODEL_CHOICES = ("best", "last")
DAMAGED_MARK = ".damaged"
# What a state.json must hold to resume from it.
STATE_KEYS = ("iteration", "checkpoint")

_CHECKPOINT = re.compile(r"ckpt-(\d+)\.keras")


def checkpoint_iteration(path) -> "int | None":
    """The iteration in a checkpoint's file name (`ckpt-0000300.keras`:
    300), or None for another name."""
    match = _CHECKPOINT.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked; the message says why and
    what to do."""


def _member(name: str) -> property:
    return property(lambda self: self.path / name, doc=f"`path / {name!r}`")


class RunFolder:
    """Paths and state of a run folder.

    Args:
        path: the folder.
    """

    recipe_path = _member(RECIPE_FILE)
    state_path = _member(STATE_FILE)
    checkpoint_dir = _member(CHECKPOINT_DIR)
    log_dir = _member(LOG_DIR)
    best_path = _member(BEST_MODEL)
    last_path = _member(LAST_MODEL)

    def __init__(self, path):
        self.path = Path(path)
        self._lock = None

    def checkpoint_path(self, iteration: int) -> Path:
        return self.checkpoint_dir / f"ckpt-{iteration:07d}.keras"

    def is_run_folder(self) -> bool:
        return self.recipe_path.is_file()

    def model_path(self, which: str = "best") -> "Path | None":
        """The model to evaluate: `best.keras`, else `last.keras` (the other
        way round for `which="last"`); None before the first checkpoint."""
        if which not in MODEL_CHOICES:
            raise ValueError(
                f"Expected which in {MODEL_CHOICES}. Received: which={which!r}"
            )
        candidates = [self.best_path, self.last_path]
        if which == "last":
            candidates.reverse()
        return next((p for p in candidates if p.is_file()), None)

    # Recipe and state ---------------------------------------------------

    def read_recipe(self) -> dict:
        """The recipe saved in the folder, checked and complete."""
        return recipe_config.load_recipe(self.recipe_path)

    def write_recipe(self, recipe: dict) -> None:
        files.write_text(self.recipe_path, recipe_config.dumps_recipe(recipe))

    def read_state(self) -> "dict | None":
        """The latest committed checkpoint state, or None before the first.

        Raises:
            RunFolderError: `state.json` is not a state (see `state_problem`).
        """
        if not self.state_path.is_file():
            return None
        problem = self.state_problem(keys=())
        if problem:
            raise RunFolderError(f"{self.state_path}: {problem}")
        with open(self.state_path) as f:
            return json.load(f)

    def state_problem(self, keys=STATE_KEYS) -> "str | None":
        """Why `state.json` cannot be resumed from (unreadable, not a JSON
        object, one of `keys` missing), or None when it can (or does not
        exist)."""
        if not self.state_path.is_file():
            return None
        try:
            with open(self.state_path) as f:
                state = json.load(f)
        except (OSError, UnicodeDecodeError) as error:
            return f"unreadable ({error})"
        except json.JSONDecodeError as error:
            return f"not valid JSON ({error})"
        if not isinstance(state, dict):
            return f"holds a {type(state).__name__}, expected an object"
        missing = [k for k in keys if k not in state]
        if missing:
            return f"has no {', '.join(missing)}"
        if "iteration" in keys and not isinstance(state["iteration"], int):
            return f"iteration={state['iteration']!r}, expected an integer"
        return None

    def write_state(self, state: dict) -> None:
        files.write_json(self.state_path, state)

    # Checkpoints ----------------------------------------------------------

    def checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoint files, oldest first."""
        if not self.checkpoint_dir.is_dir():
            return []
        found = []
        for path in self.checkpoint_dir.iterdir():
            iteration = checkpoint_iteration(path)
            if iteration is not None:
                found.append((iteration, path))
        return sorted(found)

    def move_aside(self, path: Path) -> Path:
        """Renames a damaged file to `<name>.damaged` (`.damaged-2`, ... if
        taken), out of the checkpoints' pattern; nothing is deleted."""
        target = path.with_name(path.name + DAMAGED_MARK)
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.name}{DAMAGED_MARK}-{n}")
        os.replace(path, target)
        return target

    def prune_checkpoints(self, keep: int, protect: Path) -> None:
        """Deletes all but the newest `keep` checkpoints (never `protect`)."""
        for _, path in self.checkpoints()[:-keep]:
            if path != protect:
                path.unlink(missing_ok=True)

    def remove_partial_files(self) -> None:
        """Deletes temporary files left by a write that a kill interrupted."""
        for folder in (self.path, self.checkpoint_dir):
            if folder.is_dir():
                for path in folder.glob(f"*{files.PARTIAL_MARK}*"):
                    path.unlink(missing_ok=True)

    # Locking ------------------------------------------------------------

    def lock(self) -> None:
        """Takes the folder's lock, so that two runs never write into one
        folder. The operating system drops it when the process ends, even
        after SIGKILL, so a killed run never blocks its resume."""
        if fcntl is None or self._lock is not None:
            return
        handle = open(self.path / LOCK_FILE, "a+")  # noqa: SIM115 (held)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise RunFolderError(
                f"{self.path} is in use by a running training ({owner}). "
                "Nothing was changed."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # Opening ------------------------------------------------------------

    @classmethod
    def open(cls, path, recipe: dict, overwrite: bool = False):
        """Opens a run folder for `recipe`: new, resumed or finished.

        - A missing or empty folder starts a new run.
        - A run folder of the same recipe (tables model, data, train) resumes
          from its latest checkpoint, or says that it is finished.
        - A run folder of another recipe, or a folder that is not a run
          folder, is an error: nothing is deleted unless `overwrite`, and
          `overwrite` deletes run folders only.

        The returned run holds the folder's lock until `unlock()`.

        Returns:
            `(run, state)`: `state` is None for a run without checkpoints,
            and `{"rebuild": reason}` when `state.json` is damaged or
            missing beside checkpoints (the trainer rebuilds it from the
            newest checkpoint that loads).

        Raises:
            RunFolderError: the folder cannot be used without losing work.
        """
        run = cls(path)
        exists = run.path.exists()
        if exists and not run.path.is_dir():
            raise RunFolderError(f"{run.path} exists and is not a folder.")
        empty = not exists or not any(run.path.iterdir())
        if not empty and not run.is_run_folder():
            raise RunFolderError(
                f"{run.path} exists, is not empty and is not a run folder "
                f"(no {RECIPE_FILE}). Nothing was changed; "
                "choose another folder with --run-dir."
            )
        if not empty:
            run.lock()
        if not empty and overwrite:
            print(f"--overwrite: deleting the previous run in {run.path}")
            shutil.rmtree(run.path)
            run.unlock()
            empty = True
        if empty:
            run.path.mkdir(parents=True, exist_ok=True)
            run.lock()
            run.write_recipe(recipe)
            return run, None
        try:
            return run, run._resume(recipe)
        except BaseException:
            run.unlock()
            raise

    def _resume(self, recipe: dict) -> "dict | None":
        differences = recipe_config.recipe_differences(
            self.read_recipe(), recipe
        )
        if differences:
            raise RunFolderError(
                f"{self.path} holds a run of another recipe (differences: "
                + "; ".join(differences)
                + "). Nothing was changed. Pass --run-dir NEW_FOLDER for a "
                "new run, or --overwrite to delete the old one."
            )
        self.remove_partial_files()
        problem = self.state_problem()
        if problem:
            return {"rebuild": f"{STATE_FILE} is damaged: {problem}"}
        state = self.read_state()
        if state is None and self.checkpoints():
            return {"rebuild": f"{STATE_FILE} is missing"}
        return state


# Finding a model to evaluate or export ------------------------------------


def _reason(error: BaseException) -> str:
    """An exception as a short one-line reason."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def load_newest(candidates, load, say=None):
    """The first of `candidates` (paths, newest first) that `load` opens.

    Args:
        candidates: model files to try, in order; missing ones are passed
            over.
        load: `load(path) -> model`; any exception marks the file damaged.
        say: called with one line when a damaged file was skipped.

    Returns:
        `(model, path, skipped)`: `skipped` lists `(path, reason)` of the
        damaged files before it.

    Raises:
        RunFolderError: none of them loads (every file and why).
    """
    skipped = []
    for path in candidates:
        path = Path(path)
        if not path.is_file():
            continue
        try:
            model = load(path)
        except Exception as error:  # noqa: BLE001 (any failure = damaged)
            skipped.append((path, _reason(error)))
            continue
        if skipped and say is not None:
            say(
                f"Loaded {path}; skipped "
                + "; ".join(f"{p.name} ({why})" for p, why in skipped)
            )
        return model, path, skipped
    if not skipped:
        raise RunFolderError("no model file to load")
    raise RunFolderError(
        "no model loads: "
        + "; ".join(f"{p} ({why})" for p, why in skipped)
    )


def model_candidates(model_path: Path, run_dir=None, which="best") -> list:
    """`model_path`, then (in a run folder) the other models newest first:
    `last.keras` or `best.keras`, then the checkpoints."""
    candidates = [Path(model_path)]
    if run_dir is not None:
        run = RunFolder(run_dir)
        others = [run.last_path, run.best_path]
        if which == "last":
            others.reverse()
        candidates += others
        candidates += [p for _, p in reversed(run.checkpoints())]
    seen, ordered = set(), []
    for path in candidates:
        if path not in seen:
            seen.add(path)
            ordered.append(path)
    return ordered


def _warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def load_run_model(model_path, run_dir=None, which="best", compile=True,
                   say=_warn):
    """Loads `model_path`; in a run folder, a damaged file gives way to the
    newest model that loads, and `say` (stderr by default) tells which one
    and why.

    Returns:
        `(model, path)`.

    Raises:
        RunFolderError: nothing loads (a one-line message).
    """
    import keras

    def load(path):
        return keras.saving.load_model(path, compile=compile)

    try:
        model, path, _ = load_newest(
            model_candidates(model_path, run_dir, which), load, say
        )
    except RunFolderError as error:
        raise RunFolderError(f"{model_path}: {error}") from None
    return model, path


def model_file(target, which: str = "best") -> Path:
    """The model file of `target`: a `.keras` file, a run folder's
    `best.keras` (`last.keras` when `which="last"` or there is no best), or
    the name of a shipped model (`predrnn_keras.pretrained`).

    Raises:
        RunFolderError: `target` is none of these, or holds no model yet.
    """
    if pretrained.is_name(target):
        return pretrained.model_path(target)
    target = Path(target)
    if target.is_dir():
        run = RunFolder(target)
        if not run.is_run_folder():
            raise RunFolderError(
                f"{target} is not a run folder (no {RECIPE_FILE})."
            )
        model_path = run.model_path(which)
        if model_path is None:
            raise RunFolderError(
                f"{target} holds no model yet (no {BEST_MODEL} or "
                f"{LAST_MODEL}): train it first."
            )
        return model_path
    if target.suffix != ".keras" or not target.is_file():
        names = ", ".join(pretrained.names())
        raise RunFolderError(
            "Expected a run folder, a .keras file or a shipped model's name "
            f"({names}). Received: {target}"
        )
    return target


def resolve_target(
    target, recipe_path=None, which: str = "best", require_recipe=True
):
    """Finds the model file and the recipe of an evaluation target.

    Args:
        target: a run folder, a `.keras` file or a shipped model's name (see
            `model_file`).
        recipe_path: a recipe for a `.keras` file outside a run folder (or
            to evaluate on other data).
        which: "best" or "last" model of a run folder.
        require_recipe: raise when no recipe is known; False returns None as
            the recipe of a `.keras` file outside a run folder.

    Returns:
        `(model_path, recipe_source, run_dir)`: `recipe_source` is a path to
        a TOML recipe (or None, see `require_recipe`); `run_dir` is None
        outside a run folder.

    Raises:
        RunFolderError: no model, or no recipe to evaluate it with.
    """
    model_path = model_file(target, which)
    if pretrained.is_name(target):
        return model_path, recipe_path or pretrained.recipe_path(target), None
    run = RunFolder(model_path.parent)
    run_dir = run.path if run.is_run_folder() else None
    if recipe_path is None:
        if run_dir is None:
            if not require_recipe:
                return model_path, None, None
            raise RunFolderError(
                f"{target} is not in a run folder: pass --recipe to say "
                "which data to evaluate it on."
            )
        recipe_path = run.recipe_path
    return model_path, recipe_path, run_dir


def default_evaluation_dir(model_path: Path, run_dir=None) -> Path:
    """Where an evaluation writes when not told: `evaluation` in the run
    folder, `<model>-evaluation` next to a `.keras` file outside one, or
    `runs/<name>-evaluation` for a shipped model."""
    if run_dir is not None:
        return Path(run_dir) / EVALUATION_DIR
    model_path = Path(model_path)
    if model_path.parent.parent == pretrained.PRETRAINED_DIR:
        return Path("runs") / f"{model_path.parent.name}-{EVALUATION_DIR}"
    return model_path.parent / f"{model_path.stem}-{EVALUATION_DIR}"


def evaluation_log_dir(out_dir, run_dir=None) -> Path:
    """TensorBoard folder of an evaluation written to `out_dir`: beside the
    training curves (`logs/<name>`, so that `tensorboard --logdir RUN/logs`
    shows both) when `out_dir` is a folder of the run `run_dir`, else
    `out_dir/logs`."""
    out_dir = Path(out_dir)
    if run_dir is not None and out_dir.parent == Path(run_dir):
        return RunFolder(run_dir).log_dir / out_dir.name
    return out_dir / LOG_DIR


def free_output_path(base: Path) -> Path:
    """`base`, or `base-2`, `base-3`, ...: the first that does not exist."""
    path, n = Path(base), 1
    while path.exists():
        n += 1
        path = path.with_name(f"{Path(base).name}-{n}")
    return path


def new_output_dir(base: Path) -> Path:
    """Creates `free_output_path(base)`, so that no evaluation overwrites
    another."""
    path = free_output_path(base)
    path.mkdir(parents=True)
    return path
