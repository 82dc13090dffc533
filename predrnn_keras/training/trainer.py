"""Training a recipe in a run folder: `model.fit`, resumable and watched."""

import dataclasses
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import keras
from keras import ops

from predrnn_keras import recipe_config
from predrnn_keras.callbacks import NaNGuard
from predrnn_keras.callbacks import RunCheckpoint
from predrnn_keras.callbacks import StopSignal
from predrnn_keras.callbacks import TrainingBoard
from predrnn_keras.data import dataset_info
from predrnn_keras.distribution import Placement
from predrnn_keras.distribution import setup_distribution
from predrnn_keras.hardware import mixed_precision_warning
from predrnn_keras.run_folder import RunFolder
from predrnn_keras.run_folder import RunFolderError
from predrnn_keras.run_folder import checkpoint_iteration
from predrnn_keras.run_folder import load_newest
from predrnn_keras.training import datasets
from predrnn_keras.training import precision_probe
from predrnn_keras.training.initial_model import check_init_from
from predrnn_keras.training.initial_model import initial_model
from predrnn_keras.utils import files


class NonFiniteLossError(RuntimeError):
    """Training stopped because the loss (or the weights) stopped being
    finite; the message names the iteration and the intact checkpoint."""


@dataclasses.dataclass
class TrainResult:
    """What `train` did.

    Attributes:
        run_dir: the run folder.
        status: "finished" (this call completed the run) or
            "already_finished" (nothing to do).
        iteration: the last completed iteration.
        start_iteration: the iteration this call started from.
        best_val_mse: the best validation MSE (per pixel) of the run.
        seconds: wall time of this call.
    """

    run_dir: str
    status: str
    iteration: int
    start_iteration: int
    best_val_mse: "float | None"
    seconds: float


def epoch_length(train: dict) -> int:
    """Iterations per Keras epoch: the largest that divides the run length,
    the evaluation and the checkpoint period, so that every evaluation and
    checkpoint falls on an epoch end."""
    return math.gcd(
        train["iterations"], train["eval_every"], train["checkpoint_every"]
    )


def validation_epochs(train: dict) -> list[int]:
    """The (1-based) epochs that end with an evaluation: every
    `eval_every` iterations and the last one."""
    length = epoch_length(train)
    epochs = train["iterations"] // length
    return [
        e
        for e in range(1, epochs + 1)
        if (e * length) % train["eval_every"] == 0 or e == epochs
    ]


def _format(value) -> str:
    return "none" if value is None else f"{value:.5g}"


def _sampling_step(model) -> int:
    return int(ops.convert_to_numpy(model.sampling_step))


def _load_checkpoint(path: Path):
    """A checkpoint's model, checked against the iteration in its name."""
    model = keras.saving.load_model(path)
    step = _sampling_step(model)
    named = checkpoint_iteration(path)
    if named is not None and named != step:
        raise ValueError(f"holds sampling_step={step}, its name says {named}")
    return model


def _resume_point(context: "_RunContext", length: int):
    """The model to resume and its state: `(model, state)`.

    The checkpoint `state.json` names comes first; when it is missing or
    does not load (or `state.json` itself is damaged), the newest checkpoint
    that loads takes its place, the damaged ones are renamed `*.damaged`,
    and `state.json` is rebuilt from it (one line on stderr says so).
    """
    run, state = context.source, context.state
    notes = [state["rebuild"]] if "rebuild" in state else []
    named = None if notes else run.path / state["checkpoint"]
    if named is not None and not named.is_file():
        notes.append(f"{state['checkpoint']} is missing")
    candidates = [named] if named is not None else []
    candidates += [p for _, p in reversed(run.checkpoints()) if p != named]
    try:
        model, path, skipped = load_newest(candidates, _load_checkpoint)
    except RunFolderError as error:
        problem = "; ".join(notes + [str(error)])
        raise RunFolderError(
            f"{run.path}: cannot resume: {problem}. Pass --overwrite to "
            "start the run again, or --run-dir NEW_FOLDER to keep it."
        ) from None
    writable = context.run is context.source
    for bad, why in skipped:
        moved = run.move_aside(bad) if writable else bad
        notes.append(f"{bad.name} does not load ({why}); moved to {moved.name}")
    step = _sampling_step(model)
    if not notes:
        if step != state["iteration"]:
            raise RunFolderError(
                f"{path} holds sampling_step={step}, but {run.state_path} "
                f"records iteration {state['iteration']}."
            )
        return model, state
    old = {} if "rebuild" in state else state
    iterations = context.train_cfg["iterations"]
    rebuilt = {
        **{k: old[k] for k in ("best_val_mse", "best_iteration",
                                 "train_seconds") if k in old},
        "iteration": step,
        "epoch": step // length,
        "data_batches_consumed": step,
        "sampling_step": step,
        "checkpoint": str(path.relative_to(run.path)),
        "iterations": iterations,
        "finished": step >= iterations,
        "rebuilt": "; ".join(notes),
    }
    if writable:
        files.link_or_copy(path, run.last_path)
        run.write_state(rebuilt)
    # Said even with --quiet: the run goes on from an older point.
    print(
        f"Resuming from {rebuilt['checkpoint']} (iteration {step}): "
        + "; ".join(notes),
        file=sys.stderr,
        flush=True,
    )
    return model, rebuilt


def train(
    recipe: dict,
    run_dir,
    overwrite: bool = False,
    verbose: int = 1,
    process_id: "int | None" = None,
) -> TrainResult:
    """Trains `recipe` in `run_dir`, resuming or refusing as needed.

    A new folder starts a run; a folder with an unfinished run of the same
    recipe continues from its last checkpoint (same iteration, schedule step,
    optimizer state and data position); a finished run is left alone. See
    `RunFolder.open` for the rules that protect existing outputs.

    Args:
        recipe: a complete recipe (`recipe_config.load_recipe`).
        run_dir: the run folder.
        overwrite: delete an existing run folder first.
        verbose: 1 for a progress bar and messages, 0 for silence.
        process_id: this process's number in a JAX `multi_worker` run.

    Under a `[distribution]` other than "none" (`predrnn_keras.distribution`)
    every process calls `train` with the same recipe and run folder; the
    chief (process 0) writes the folder, which the others must be able to
    read (a shared file system) to resume.

    Returns:
        A `TrainResult`.

    Raises:
        RunFolderError: the folder holds another run, or is not a run folder.
        NonFiniteLossError: the loss became NaN or infinite.
        ValueError: a bad recipe or data (before anything is written).
        DistributionError: a `[distribution]` this backend or machine
            cannot run (a ValueError).
    """
    placement = setup_distribution(
        recipe["distribution"], process_id=process_id
    )
    # Read the data (and so check every value of [data]) before touching the
    # run folder.
    frame_shape = dataset_info(recipe["data"]).frame_shape
    recipe = _resolved_precision(
        recipe, run_dir, overwrite, verbose, frame_shape
    )
    recipe_config.check_frame_shape(recipe, frame_shape)
    placement.check_batch_size(recipe["train"]["batch_size"])
    shared = dict(
        recipe=recipe,
        frame_shape=frame_shape,
        validation=datasets.validation_data(recipe, placement),
        placement=placement,
    )
    if placement.is_chief:
        if recipe["train"]["init_from"] and not _resumable(run_dir, overwrite):
            # A model that cannot start this run leaves no run folder.
            check_init_from(recipe, frame_shape)
        run, state = RunFolder.open(run_dir, recipe, overwrite=overwrite)
        try:
            return _train_in(
                _RunContext(
                    source=run, run=run, state=state, verbose=verbose, **shared
                )
            )
        finally:
            run.unlock()
    # Other processes read the chief's run folder (to resume with it) and
    # write their copies of checkpoints and logs to a scratch folder that is
    # deleted at the end: every process runs the same callbacks, as
    # synchronous training needs, but only the chief's files remain.
    source, state = _worker_view(run_dir, recipe, overwrite)
    scratch = RunFolder(
        tempfile.mkdtemp(prefix=f"predrnn-worker{placement.worker_index}-")
    )
    try:
        scratch.write_recipe(recipe)
        return _train_in(
            _RunContext(
                source=source, run=scratch, state=state, verbose=0, **shared
            )
        )
    finally:
        shutil.rmtree(scratch.path, ignore_errors=True)


def _resolved_precision(
    recipe, run_dir, overwrite, verbose, frame_shape
) -> dict:
    """The recipe with "auto" precision decided, said once at the start; a
    resumed run keeps the precision it started in. On a CPU with bfloat16
    instructions "auto" is measured (`precision_probe`), except in a
    distributed run, whose processes must agree."""
    run = RunFolder(run_dir)
    saved = None
    if not overwrite and run.is_run_folder():
        try:
            saved = run.read_recipe()
        except ValueError:
            saved = None  # RunFolder.open reports the damaged folder.
    if (
        recipe["train"]["precision"] == "auto"
        and (saved is None or saved["train"]["precision"] == "auto")
        and recipe["distribution"]["mode"] == "none"
        and precision_probe.needs_measuring()
    ):
        precision, reason = precision_probe.measured_precision(
            recipe, frame_shape, say=print if verbose else None
        )
        resolved = {
            **recipe,
            "train": {**recipe["train"], "precision": precision},
        }
    else:
        resolved, reason = recipe_config.resolve_precision(recipe, saved)
    if reason and verbose:
        print(
            f"Precision: {resolved['train']['precision']} (auto: {reason})"
        )
    return resolved


def _resumable(run_dir, overwrite: bool) -> bool:
    """Whether `run_dir` holds a checkpoint that training would resume."""
    run = RunFolder(run_dir)
    if overwrite or not run.is_run_folder():
        return False
    try:
        return run.read_state() is not None
    except ValueError:
        return False  # RunFolder.open reports the damaged folder.


def _worker_view(run_dir, recipe: dict, overwrite: bool):
    """A non-chief process's view of the run folder: `(source, state)`.

    The folder must be the chief's (a shared file system across hosts); the
    chief alone creates, checks, locks and writes it.
    """
    source = RunFolder(run_dir)
    if overwrite or not source.is_run_folder():
        return source, None
    if recipe_config.recipe_differences(source.read_recipe(), recipe):
        # The chief refuses this folder with the full message.
        raise RunFolderError(f"{source.path} holds a run of another recipe.")
    return source, source.read_state()


@dataclasses.dataclass
class _RunContext:
    """What one process needs to train a recipe.

    Attributes:
        recipe: the complete recipe.
        source: the run folder read to resume (the chief's).
        run: the run folder written: `source` on the chief, a scratch folder
            on the other processes.
        state: the state of the checkpoint to resume, or None.
        frame_shape: `(height, width, channels)` of the data.
        validation: the fixed validation batches.
        placement: where this process trains.
        verbose: 1 for a progress bar and messages.
    """

    recipe: dict
    source: RunFolder
    run: RunFolder
    state: "dict | None"
    frame_shape: tuple
    validation: datasets.ValidationData
    placement: Placement
    verbose: int

    @property
    def train_cfg(self) -> dict:
        return self.recipe["train"]

    def say(self, *args, **kwargs) -> None:
        if self.verbose:
            print(*args, **kwargs)

    def result(self, status, iteration, start_iteration, best, started):
        return TrainResult(
            str(self.source.path),
            status,
            iteration,
            start_iteration,
            best,
            time.time() - started,
        )


def _train_in(context: _RunContext) -> TrainResult:
    """Trains (or finds finished) the run `context` describes."""
    started = time.time()
    length = epoch_length(context.train_cfg)
    resumed = None
    if context.state is not None and not context.state.get("finished"):
        with context.placement.scope():
            resumed, context.state = _resume_point(context, length)
    state = context.state
    if state is not None and state.get("finished"):
        context.say(
            f"{context.run.path} holds a finished run ({state['iteration']}/"
            f"{context.train_cfg['iterations']} iterations, best val_mse "
            f"{_format(state.get('best_val_mse'))}). Nothing to do.\n"
            f"Evaluate it with: python evaluate.py {context.run.path}\n"
            "Train again with --run-dir NEW_FOLDER, or --overwrite."
        )
        iteration, best = state["iteration"], state.get("best_val_mse")
        return context.result(
            "already_finished", iteration, iteration, best, started
        )
    model, iteration = _prepare_model(context, resumed)
    guard = NaNGuard(length)
    _fit(context, model, iteration, guard)
    return _outcome(context, guard, iteration, started)


def _prepare_model(context: _RunContext, resumed=None):
    """The model to train, new or `resumed` (loaded by `_resume_point`),
    with the run's learning rate: `(model, iteration)`."""
    train_cfg, placement = context.train_cfg, context.placement
    learning_rate = placement.learning_rate(
        train_cfg["learning_rate"],
        context.recipe["distribution"]["learning_rate_scaling"],
    )
    with placement.scope():
        if context.state is None:
            keras.utils.set_random_seed(train_cfg["seed"])
            context.say(
                f"New run in {context.source.path} (backend "
                f"{keras.backend.backend()})"
            )
            model, iteration = _new_model(context, learning_rate)
        else:
            model = resumed
            iteration = context.state["iteration"]
            context.say(
                f"Resuming {context.source.path} at iteration {iteration}/"
                f"{train_cfg['iterations']} from "
                f"{context.state['checkpoint']} (backend "
                f"{keras.backend.backend()})"
            )
        precision_warning = mixed_precision_warning(train_cfg["precision"])
        if precision_warning:
            context.say(precision_warning)
        _resume_learning_rate(model, learning_rate)
    if placement.distributed:
        _print_placement(context, learning_rate)
    return model, iteration


def _new_model(context: _RunContext, learning_rate: float):
    """The model of a new run, `(model, iteration)`: new weights, or those of
    `train.init_from`."""
    if context.train_cfg["init_from"]:
        return initial_model(
            context.recipe, context.frame_shape, learning_rate, context.say
        )
    model = recipe_config.build_model(
        context.recipe, context.frame_shape, learning_rate=learning_rate
    )
    return model, 0


def _resume_learning_rate(model, learning_rate: float) -> None:
    """A constant learning rate follows the recipe (and the number of
    replicas) on resuming; a schedule resumes as saved, at the optimiser's
    step."""
    if recipe_config.optimizer_schedule(model.optimizer) is not None:
        return
    current = float(ops.convert_to_numpy(model.optimizer.learning_rate))
    if current != learning_rate:
        model.optimizer.learning_rate.assign(learning_rate)


def _print_placement(context: _RunContext, learning_rate: float) -> None:
    """One line per process: the devices, batch split and learning rate."""
    train_cfg, placement = context.train_cfg, context.placement
    scaled = (
        "" if learning_rate == train_cfg["learning_rate"]
        else f" (train.learning_rate {train_cfg['learning_rate']:g} x "
        f"{placement.num_replicas} replicas)"
    )
    who = "Distribution"
    if placement.num_workers > 1:
        who = f"Process {placement.worker_index} of {placement.num_workers}"
        if placement.is_chief:
            who += " (chief: writes the run folder)"
    print(
        f"{who}: {placement.describe(train_cfg['batch_size'])}; learning "
        f"rate {learning_rate:g}{scaled}",
        flush=True,
    )


def _callbacks(context: _RunContext, guard: NaNGuard) -> list:
    """Progress bar, NaN guard, TensorBoard and checkpoints, in this order."""
    train_cfg, placement = context.train_cfg, context.placement
    image_count = train_cfg["image_sequences"]
    if placement.backend == "jax" and placement.num_workers > 1:
        # The image grid predicts on this process's own numpy array; with
        # the model spread over several processes' devices that is not
        # supported here, so the grid is off (the scalars are logged).
        image_count = 0
    callbacks = [guard]
    if context.verbose:
        callbacks.insert(0, keras.callbacks.ProgbarLogger())
    return callbacks + [
        TrainingBoard(
            context.run.log_dir,
            guard.epoch_length,
            train_cfg["log_every"],
            image_sequences=datasets.image_sequences(
                context.validation, image_count, train_cfg["batch_size"]
            ),
            text="```\n" + recipe_config.dumps_recipe(context.recipe) + "```",
        ),
        RunCheckpoint(
            context.run,
            guard.epoch_length,
            train_cfg["iterations"],
            train_cfg["checkpoint_every"],
            train_cfg["keep_checkpoints"],
            guard,
            state=context.state,
            verbose=bool(context.verbose),
        ),
    ]


def _fit(context: _RunContext, model, iteration: int, guard: NaNGuard):
    """`model.fit` from `iteration` to the end of the run, in epochs that end
    on every evaluation and checkpoint. A run resumed inside an epoch (from a
    checkpoint written on a stop signal) first completes that epoch.

    Raises:
        TrainingStopped: SIGTERM or SIGINT stopped it, after a checkpoint.
    """
    train_cfg = context.train_cfg
    length = guard.epoch_length
    callbacks = _callbacks(context, guard)
    stop = StopSignal(callbacks[-1])
    callbacks.append(stop)
    context.say(
        f"Training iterations {iteration + 1}..{train_cfg['iterations']} in "
        f"epochs of {length}: evaluation every {train_cfg['eval_every']}, "
        f"checkpoint every {train_cfg['checkpoint_every']}; TensorBoard: "
        f"tensorboard --logdir {context.run.log_dir}"
    )
    epochs = train_cfg["iterations"] // length
    common = dict(
        validation_data=context.validation.dataset,
        validation_steps=context.validation.steps,
        validation_freq=validation_epochs(train_cfg),
        callbacks=callbacks,
        shuffle=False,  # the reader shuffles, by batch number
        verbose=context.verbose,
    )
    offset_callbacks = [c for c in callbacks if hasattr(c, "batch_offset")]
    stop.install()
    try:
        done = iteration % length
        if done:
            for callback in offset_callbacks:
                callback.batch_offset = done
            model.fit(
                datasets.training_data(
                    context.recipe, context.placement, iteration
                ),
                epochs=iteration // length + 1,
                steps_per_epoch=length - done,
                initial_epoch=iteration // length,
                **common,
            )
            for callback in offset_callbacks:
                callback.batch_offset = 0
            iteration += length - done
            if guard.tripped or iteration >= train_cfg["iterations"]:
                return
        model.fit(
            datasets.training_data(
                context.recipe, context.placement, iteration
            ),
            epochs=epochs,
            steps_per_epoch=length,
            initial_epoch=iteration // length,
            **common,
        )
    finally:
        stop.uninstall()
        board = next(c for c in callbacks if isinstance(c, TrainingBoard))
        board.on_train_end()  # flushes the logs of a stopped fit


def _outcome(context: _RunContext, guard: NaNGuard, iteration, started):
    """The `TrainResult` of a completed `fit`, or the error of a stopped one."""
    final = context.run.read_state() or {}
    if guard.tripped:
        where = (
            f"The last good checkpoint, iteration {final['iteration']}, is "
            f"intact: {context.source.path / final['checkpoint']}."
            if final
            else "No checkpoint had been written yet."
        )
        raise NonFiniteLossError(
            f"Training stopped at iteration {guard.iteration}: {guard.reason}. "
            f"{where} Check the data, or lower train.learning_rate (e.g. "
            "--set train.learning_rate=...) in a new run (--run-dir)."
        )
    context.say(
        f"Finished: {final.get('iteration')}/{context.train_cfg['iterations']}"
        f" iterations in {context.run.path}; best val_mse "
        f"{_format(final.get('best_val_mse'))} at iteration "
        f"{final.get('best_iteration')}.\n"
        f"Evaluate with: python evaluate.py {context.run.path}"
    )
    return context.result(
        "finished",
        final.get("iteration", iteration),
        iteration,
        final.get("best_val_mse"),
        started,
    )
