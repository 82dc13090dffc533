"""File writes that never leave a half-written file under the final name.

Each writer writes a temporary file (`partial_path`) in the same folder,
flushes it to disk and renames it over the final name (`os.replace`, atomic
on POSIX and Windows): a kill at any moment leaves either the old file or
the new one, and at worst a temporary file that `RunFolder` deletes.
"""

import json
import os
import shutil
from pathlib import Path

PARTIAL_MARK = ".partial"


def partial_path(path: Path) -> Path:
    """The temporary name of `path`, with its extension kept last (Keras
    insists on `.keras`)."""
    return path.with_name(f"{path.stem}{PARTIAL_MARK}{path.suffix}")


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: "str | os.PathLike[str]", text: str) -> None:
    """Writes `text` to `path` atomically."""
    path = Path(path)
    tmp = partial_path(path)
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_json(path: "str | os.PathLike[str]", data) -> None:
    """Writes `data` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def save_model(model, path: "str | os.PathLike[str]") -> None:
    """`model.save(path)` atomically (weights, optimizer state, variables)."""
    path = Path(path)
    tmp = partial_path(path)
    model.save(tmp)
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def link_or_copy(source: "str | os.PathLike[str]", path) -> None:
    """Makes `path` a copy of `source` atomically (a hard link if possible,
    so that equal files take the disk space once)."""
    source, path = Path(source), Path(path)
    tmp = partial_path(path)
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
        _fsync(tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
