"""The run folder: recipe, checkpoints, state, models and logs of one run.

```
runs/quickstart/
  recipe.toml           the merged recipe of the run (written once)
  state.json            the latest checkpoint: iteration, epoch, best score
  checkpoints/          ckpt-0000300.keras ... (the newest few)
  best.keras            the model with the best validation MSE so far
  last.keras            the model of the latest checkpoint
  logs/train, logs/validation   TensorBoard
```

`state.json` is the commit record: it is rewritten (atomically) only after
the checkpoint it names is complete, so the newest state always points at a
whole checkpoint, whatever moment a run is killed at.
"""

import os
import re
import shutil
import tomllib
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, no protection.
    fcntl = None

from predrnn_keras import config as recipe_config
from predrnn_keras.callbacks import atomic

_CHECKPOINT = re.compile(r"ckpt-(\d+)\.keras")


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked; the message says why and
    what to do."""


class RunFolder:
    """Paths and state of a run folder.

    Args:
        path: the folder.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._lock = None

    @property
    def recipe_path(self) -> Path:
        return self.path / recipe_config.RECIPE_FILE

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def log_dir(self) -> Path:
        return self.path / "logs"

    @property
    def best_path(self) -> Path:
        return self.path / "best.keras"

    @property
    def last_path(self) -> Path:
        return self.path / "last.keras"

    def checkpoint_path(self, iteration: int) -> Path:
        return self.checkpoint_dir / f"ckpt-{iteration:07d}.keras"

    def is_run_folder(self) -> bool:
        return self.recipe_path.is_file()

    # Recipe and state ---------------------------------------------------

    def read_recipe(self) -> dict:
        """The recipe saved in the folder, checked and complete."""
        with open(self.recipe_path, "rb") as f:
            return recipe_config.resolve(tomllib.load(f))

    def write_recipe(self, recipe: dict) -> None:
        recipe_config.dump_recipe(recipe, self.recipe_path)

    def read_state(self) -> "dict | None":
        """The latest committed checkpoint state, or None before the first."""
        if not self.state_path.is_file():
            return None
        import json

        with open(self.state_path) as f:
            return json.load(f)

    def write_state(self, state: dict) -> None:
        atomic.write_json(self.state_path, state)

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
                for path in folder.glob(f"*{atomic.PARTIAL_MARK}*"):
                    path.unlink(missing_ok=True)

    # Locking ------------------------------------------------------------

    def lock(self) -> None:
        """Takes the folder's lock, so that two runs never write into one
        folder. The operating system drops it when the process ends, even
        after SIGKILL, so a killed run never blocks its resume."""
        if fcntl is None or self._lock is not None:
            return
        handle = open(self.path / ".lock", "a+")  # noqa: SIM115 (held)
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
                f"(no {recipe_config.RECIPE_FILE}). Nothing was changed; "
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
        run = self
        saved = run.read_recipe()
        differences = recipe_config.recipe_differences(saved, recipe)
        if differences:
            raise RunFolderError(
                f"{run.path} holds a run of another recipe (differences: "
                + "; ".join(differences)
                + "). Nothing was changed. Pass --run-dir NEW_FOLDER for a "
                "new run, or --overwrite to delete the old one."
            )
        run.remove_partial_files()
        return run.read_state()
