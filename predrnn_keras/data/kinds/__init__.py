"""Data kinds: plug-ins found by name, one module each.

`[data] kind = "..."` names a `DataKind` registered here; the trainer, the
evaluator, predict and the recipes ask it how to read a split
(`make_reader`), the frame shape (`frame_shape`), what the model's values
mean (`transform`), what evaluation adds (`evaluation_extras`) and how
predict reads an input (`forecast_source`), and never which kind it is.

A kind of your own is a subclass and one call:

    >>> from predrnn_keras.data import kinds
    >>> class MyKind(kinds.DataKind):
    ...     name = "my_kind"
    ...     keys = {"path": kinds.DataKey("a path", None, "the files")}
    ...     def make_reader(self, config, split, total_length, seed): ...
    ...     def frame_shape(self, config): return (64, 64, 1)
    >>> kinds.register(MyKind())

after which recipes may say `[data] kind = "my_kind"` (docs/design.md).
For the command lines to find a kind of another package, that package
declares it as an entry point of the group `predrnn_keras.data_kinds`
(`my_kind = "my_package.kinds:MyKind"` under
`[project.entry-points."predrnn_keras.data_kinds"]` in its
pyproject.toml): a name not registered here is looked up there.
"""

import importlib.metadata
from collections.abc import Mapping

from predrnn_keras.data.config_checks import DataKey
from predrnn_keras.data.kinds.array import ArrayKind
from predrnn_keras.data.kinds.base import DataKind
from predrnn_keras.data.kinds.base import EvaluationExtras
from predrnn_keras.data.kinds.base import ImageValues
from predrnn_keras.data.kinds.forecast_source import ForecastItem
from predrnn_keras.data.kinds.forecast_source import ForecastRequest
from predrnn_keras.data.kinds.forecast_source import ForecastSource
from predrnn_keras.data.kinds.frames import FramesKind
from predrnn_keras.data.kinds.kth import KTHKind
from predrnn_keras.data.kinds.mnist_npy import MNISTNPYKind
from predrnn_keras.data.kinds.mnist_npz import MNISTNPZKind
from predrnn_keras.data.kinds.moving_mnist import MovingMNISTKind
from predrnn_keras.data.kinds.radar import RadarKind
from predrnn_keras.registry import Registry

# The entry-point group of data kinds of other packages.
ENTRY_POINT_GROUP = "predrnn_keras.data_kinds"
KINDS = Registry("data kind")
for _kind in (
    MovingMNISTKind(),
    MNISTNPZKind(),
    MNISTNPYKind(),
    KTHKind(),
    FramesKind(),
    ArrayKind(),
    RadarKind(),
):
    KINDS.register(_kind.name, _kind)


def register(kind: DataKind, replace: bool = False) -> DataKind:
    """Registers `kind` under `kind.name`; returns it.

    Raises:
        ValueError: the name is taken (unless `replace`) or empty.
    """
    return KINDS.register(kind.name, kind, replace=replace)


def unregister(name: str) -> None:
    """Removes the kind `name` (a test's own kind)."""
    KINDS.unregister(name)


def _from_entry_points(name: "str | None" = None) -> None:
    """Registers the kinds other packages declare (all, or `name`'s)."""
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in KINDS or name not in (None, entry.name):
            continue
        kind = entry.load()
        kind = kind() if isinstance(kind, type) else kind
        if kind.name != entry.name:
            raise ValueError(
                f"Entry point {entry.name} = {entry.value!r} of "
                f"{ENTRY_POINT_GROUP}: expected a data kind named "
                f"{entry.name!r}. Received: name={kind.name!r}"
            )
        register(kind)


def names() -> tuple:
    """The names of the registered kinds, those of entry points included."""
    _from_entry_points()
    return KINDS.names()


def get(name: str) -> DataKind:
    """The kind registered as `name` (or declared as an entry point).

    Raises:
        ValueError: an unknown name; the message lists the known ones.
    """
    if name not in KINDS and isinstance(name, str):
        _from_entry_points(name)
    if name not in KINDS:
        raise ValueError(
            f"Expected [data] kind to be one of {', '.join(KINDS)}. "
            f"Received: kind={name!r}"
        )
    return KINDS.get(name)


def kind_of(config: Mapping) -> DataKind:
    """The kind a `[data]` table names.

    Raises:
        TypeError: `config` is not a table.
        ValueError: an unknown or missing kind.
    """
    if not isinstance(config, Mapping):
        raise TypeError(
            "Expected the [data] table to be a dict. "
            f"Received: {type(config).__name__}"
        )
    return get(config.get("kind"))


__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "DataKey",
    "DataKind",
    "EvaluationExtras",
    "ForecastItem",
    "ForecastRequest",
    "ForecastSource",
    "ImageValues",
    "get",
    "kind_of",
    "names",
    "register",
    "unregister",
]
