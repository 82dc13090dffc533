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
whole checkpoint, whatever moment a run is killed at.
"""

import json
import os
import re
import shutil
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

_CHECKPOINT = re.compile(r"ckpt-(\d+)\.keras")


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
        """The latest committed checkpoint state, or None before the first."""
        if not self.state_path.is_file():
            return None
        with open(self.state_path) as f:
            return json.load(f)

    def write_state(self, state: dict) -> None:
        files.write_json(self.state_path, state)

    def state_checkpoint(self, state: dict) -> Path:
        """The checkpoint file that `state` names; it must exist."""
        path = self.path / state["checkpoint"]
        if not path.is_file():
            raise RunFolderError(
                f"{self.state_path} names the checkpoint {path}, which is "
                "missing. Pass --overwrite to start the run again."
            )
        return path

    # Checkpoints ----------------------------------------------------------

    def checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoint files, oldest first."""
        if not self.checkpoint_dir.is_dir():
            return []
        found = []
        for path in self.checkpoint_dir.iterdir():
            match = _CHECKPOINT.fullmatch(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

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
            `(run, state)`: `state` is None for a run without checkpoints.

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
        return self.read_state()


# Finding a model to evaluate or export ------------------------------------


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
