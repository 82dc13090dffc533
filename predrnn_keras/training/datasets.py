"""The inputs of a training run: training batches, fixed validation batches
and the sequences drawn in TensorBoard."""

import math
import typing

import numpy as np

from predrnn_keras.data import build_dataset
from predrnn_keras.distribution import Placement


class ValidationData(typing.NamedTuple):
    """The validation input of `fit`.

    Attributes:
        dataset: what `fit` takes as `validation_data`: the same `steps`
            batches at every evaluation.
        steps: batches per evaluation.
        source: the whole (unsharded) validation split, for the pictures.
    """

    dataset: object
    steps: int
    source: object


def split_dataset(recipe: dict, split: str, start_batch=0, shard=(0, 1)):
    """The recipe's `split` in training batches: part `shard[0]` of
    `shard[1]` of every global batch, from batch `start_batch` on."""
    train = recipe["train"]
    return build_dataset(
        recipe["data"],
        split,
        batch_size=train["batch_size"],
        total_length=train["total_length"],
        patch_size=recipe["model"]["patch_size"],
        seed=train["seed"],
        start_batch=start_batch,
        shard_index=shard[0],
        num_shards=shard[1],
    )


def training_data(recipe: dict, placement: Placement, start_batch: int):
    """The training batches from `start_batch` on (the data position of a
    resumed run), as `fit` takes them on `placement`."""
    return placement.dataset(
        lambda index, count: split_dataset(
            recipe, "train", start_batch, (index, count)
        ),
        recipe["train"]["batch_size"],
    )


def validation_data(recipe: dict, placement: Placement) -> ValidationData:
    """The fixed validation batches: the same ones at every evaluation."""
    train = recipe["train"]
    batch_size = train["batch_size"]
    dataset = split_dataset(recipe, "val")
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
        shard = (
            split_dataset(recipe, "val", shard=(shard_index, num_shards))
            if num_shards > 1
            else dataset
        )
        return shard.take(steps).cache().repeat()

    return ValidationData(
        placement.dataset(fixed, batch_size), steps, dataset
    )


def image_sequences(validation: ValidationData, count: int, batch_size: int):
    """The first `count` validation sequences, for the TensorBoard grid."""
    if not count:
        return None
    batches = validation.source.take(math.ceil(count / batch_size))
    return np.concatenate([np.asarray(b) for b in batches])[:count]
