"""Training a recipe in a run folder: `model.fit`, resumable and watched."""

import dataclasses
import math
import shutil
import tempfile
import time

import keras
import numpy as np
from keras import ops

from predrnn_keras import config as recipe_config
from predrnn_keras.callbacks import NaNGuard
from predrnn_keras.callbacks import RunCheckpoint
from predrnn_keras.callbacks import TrainingBoard
from predrnn_keras.data import build_dataset
from predrnn_keras.data import dataset_info
from predrnn_keras.distribution import Placement
from predrnn_keras.distribution import setup_distribution
from predrnn_keras.training.hardware import mixed_precision_warning
from predrnn_keras.training.run_folder import RunFolder
from predrnn_keras.training.run_folder import RunFolderError


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


def _validation_data(recipe: dict, placement: Placement):
    """The fixed validation batches (the same ones at every evaluation),
    their number and the dataset they are taken from."""
    train = recipe["train"]
    batch_size = train["batch_size"]

    def build(shard_index=0, num_shards=1):
        return build_dataset(
            recipe["data"],
            "val",
            batch_size=batch_size,
            total_length=train["total_length"],
            patch_size=recipe["model"]["patch_size"],
            seed=train["seed"],
            shard_index=shard_index,
            num_shards=num_shards,
        )

    dataset = build()
    available = int(dataset.cardinality())
    if placement.distributed and available > 0:
        # Replicas split every batch evenly: full batches only.
        last = dataset.skip(available - 1).take(1)
        if int(next(iter(last)).shape[0]) != batch_size:
            available -= 1
        if available < 1:
            raise ValueError(
                "Distributed training evaluates full validation batches "
                f"only, and the validation split holds fewer than "
                f"train.batch_size={batch_size} sequences."
            )
    steps = train["val_batches"]
    if available > 0:
        steps = min(steps, available)

    def fixed(shard_index, num_shards):
        # Each evaluation reads exactly `steps` batches of this cycle, so
        # every evaluation (also after a resume) scores the same sequences.
        shard = build(shard_index, num_shards) if num_shards > 1 else dataset
        return shard.take(steps).cache().repeat()

    return placement.dataset(fixed, batch_size), steps, dataset


def _image_sequences(val_ds, count: int, batch_size: int):
    """The first `count` validation sequences, for the TensorBoard grid."""
    if not count:
        return None
    batches = val_ds.take(math.ceil(count / batch_size))
    return np.concatenate([np.asarray(b) for b in batches])[:count]


def _format(value) -> str:
    return "none" if value is None else f"{value:.5g}"


def _load_checkpoint(run: RunFolder, state: dict):
    path = run.path / state["checkpoint"]
    if not path.is_file():
        raise RunFolderError(
            f"{run.state_path} names the checkpoint {path}, which is missing. "
            "Pass --overwrite to start the run again."
        )
    model = keras.saving.load_model(path)
    step = int(ops.convert_to_numpy(model.sampling_step))
    if step != state["iteration"]:
        raise RunFolderError(
            f"{path} holds sampling_step={step}, but {run.state_path} records "
            f"iteration {state['iteration']}."
        )
    return model


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
        recipe: a complete recipe (`config.load_recipe`).
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
    recipe_config.check_frame_shape(recipe, frame_shape)
    placement.check_batch_size(recipe["train"]["batch_size"])
    val_data = _validation_data(recipe, placement)
    if placement.is_chief:
        run, state = RunFolder.open(run_dir, recipe, overwrite=overwrite)
        try:
            return _train_in(
                run, run, state, recipe, frame_shape, val_data, placement,
                verbose,
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
            source, scratch, state, recipe, frame_shape, val_data, placement,
            0,
        )
    finally:
        shutil.rmtree(scratch.path, ignore_errors=True)


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


def _train_in(
    source, run, state, recipe, frame_shape, val_data, placement, verbose
):
    started = time.time()
    train_cfg = recipe["train"]
    model_cfg = recipe["model"]
    val_ds, val_steps, val_source = val_data
    say = print if verbose else (lambda *a, **k: None)
    iterations = train_cfg["iterations"]
    if state is not None and state.get("finished"):
        say(
            f"{run.path} holds a finished run ({state['iteration']}/"
            f"{iterations} iterations, best val_mse "
            f"{_format(state.get('best_val_mse'))}). Nothing to do.\n"
            f"Evaluate it with: python evaluate.py {run.path}\n"
            "Train again with --run-dir NEW_FOLDER, or --overwrite."
        )
        return TrainResult(
            str(source.path),
            "already_finished",
            state["iteration"],
            state["iteration"],
            state.get("best_val_mse"),
            time.time() - started,
        )

    length = epoch_length(train_cfg)
    learning_rate = placement.learning_rate(
        train_cfg["learning_rate"],
        recipe["distribution"]["learning_rate_scaling"],
    )
    with placement.scope():
        if state is None:
            keras.utils.set_random_seed(train_cfg["seed"])
            model = recipe_config.build_model(recipe, frame_shape)
            iteration = 0
            say(
                f"New run in {source.path} (backend "
                f"{keras.backend.backend()})"
            )
        else:
            model = _load_checkpoint(source, state)
            iteration = state["iteration"]
            say(
                f"Resuming {source.path} at iteration {iteration}/"
                f"{iterations} from {state['checkpoint']} (backend "
                f"{keras.backend.backend()})"
            )
        precision_warning = mixed_precision_warning(train_cfg["precision"])
        if precision_warning:
            say(precision_warning)
        current = float(ops.convert_to_numpy(model.optimizer.learning_rate))
        if current != learning_rate:
            model.optimizer.learning_rate.assign(learning_rate)
    if placement.distributed:
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
    if iteration % length:
        raise RunFolderError(
            f"The checkpoint at iteration {iteration} does not fall on an "
            f"epoch of {length} iterations."
        )

    def train_shard(shard_index, num_shards):
        return build_dataset(
            recipe["data"],
            "train",
            batch_size=train_cfg["batch_size"],
            total_length=train_cfg["total_length"],
            patch_size=model_cfg["patch_size"],
            seed=train_cfg["seed"],
            start_batch=iteration,
            shard_index=shard_index,
            num_shards=num_shards,
        )

    train_ds = placement.dataset(train_shard, train_cfg["batch_size"])
    image_count = train_cfg["image_sequences"]
    if placement.backend == "jax" and placement.num_workers > 1:
        # The image grid predicts on this process's own numpy array; with
        # the model spread over several processes' devices that is not
        # supported here, so the grid is off (the scalars are logged).
        image_count = 0
    images = _image_sequences(val_source, image_count, train_cfg["batch_size"])
    guard = NaNGuard(length)
    callbacks = [guard]
    if verbose:
        callbacks.insert(0, keras.callbacks.ProgbarLogger())
    callbacks += [
        TrainingBoard(
            run.log_dir,
            length,
            train_cfg["log_every"],
            image_sequences=images,
            text="```\n" + recipe_config.dumps_recipe(recipe) + "```",
        ),
        RunCheckpoint(
            run,
            length,
            iterations,
            train_cfg["checkpoint_every"],
            train_cfg["keep_checkpoints"],
            guard,
            state=state,
            verbose=bool(verbose),
        ),
    ]
    epochs = iterations // length
    say(
        f"Training iterations {iteration + 1}..{iterations} in epochs of "
        f"{length}: evaluation every {train_cfg['eval_every']}, checkpoint "
        f"every {train_cfg['checkpoint_every']}; TensorBoard: tensorboard "
        f"--logdir {run.log_dir}"
    )
    model.fit(
        train_ds,
        epochs=epochs,
        steps_per_epoch=length,
        initial_epoch=iteration // length,
        validation_data=val_ds,
        validation_steps=val_steps,
        validation_freq=validation_epochs(train_cfg),
        callbacks=callbacks,
        shuffle=False,  # the reader shuffles, by batch number
        verbose=verbose,
    )
    final = run.read_state() or {}
    if guard.tripped:
        where = (
            f"The last good checkpoint, iteration {final['iteration']}, is "
            f"intact: {source.path / final['checkpoint']}."
            if final
            else "No checkpoint had been written yet."
        )
        raise NonFiniteLossError(
            f"Training stopped at iteration {guard.iteration}: {guard.reason}. "
            f"{where} Check the data, or lower train.learning_rate (e.g. "
            "--set train.learning_rate=...) in a new run (--run-dir)."
        )
    say(
        f"Finished: {final.get('iteration')}/{iterations} iterations in "
        f"{run.path}; best val_mse {_format(final.get('best_val_mse'))} at "
        "iteration "
        f"{final.get('best_iteration')}.\n"
        f"Evaluate with: python evaluate.py {run.path}"
    )
    return TrainResult(
        str(source.path),
        "finished",
        final.get("iteration", iteration),
        iteration,
        final.get("best_val_mse"),
        time.time() - started,
    )
