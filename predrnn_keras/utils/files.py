"""File writes that never leave a half-written file under the final name.

Each writer writes a temporary file (`partial_path`) in the same folder,
flushes it to disk and renames it over the final name (`os.replace`, atomic
on POSIX and Windows): a kill at any moment leaves either the old file or
the new one, and at worst a temporary file that `RunFolder` deletes.

A write that fails for want of space or permission raises `WriteError`, one
line naming the file, the free space and (where known) the space needed; the
temporary file is removed and the file under the final name is untouched.
"""

import contextlib
import errno
import json
import os
import shutil
from pathlib import Path

PARTIAL_MARK = ".partial"
# Errors of the place written to, not of the data: a full disk or quota, a
# read-only file system, no permission.
WRITE_ERRNOS = frozenset(
    code
    for code in (
        errno.ENOSPC,
        getattr(errno, "EDQUOT", None),
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
    )
    if code is not None
)


class WriteError(OSError):
    """A file that could not be written for want of space or permission.

    The message is one line: the path, the reason, the free space where the
    file goes and the space needed when it is known, and what to do.
    """

    def __str__(self):
        return str(self.strerror)


def size_text(num_bytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if num_bytes < 1024 or unit == "GiB":
            return (
                f"{num_bytes:.0f} {unit}" if unit == "bytes"
                else f"{num_bytes:.1f} {unit}"
            )
        num_bytes /= 1024
    return f"{num_bytes:.1f} GiB"


def free_bytes(path) -> "int | None":
    """Free space where `path` is (or would be) written, or None."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def write_error_errno(error: BaseException) -> "int | None":
    """The `WRITE_ERRNOS` code of `error` or of an error it was raised from
    (libraries wrap `OSError`s), else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in WRITE_ERRNOS:
            return error.errno
        if isinstance(error, OSError) and "No space left on device" in str(
            error
        ):
            return errno.ENOSPC
        error = error.__cause__ or error.__context__
    return None


def as_write_error(error: BaseException, path, needed=None) -> WriteError:
    """`error` (a `write_error_errno` error) as a one-line `WriteError`."""
    code = write_error_errno(error) or errno.EIO
    free = free_bytes(path)
    parts = [os.strerror(code)]
    if free is not None:
        parts.append(f"{size_text(free)} free")
    if needed:
        parts.append(f"about {size_text(needed)} needed")
    advice = (
        "free some space, then run the same command again"
        if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
        else "make it writable or choose another folder"
    )
    return WriteError(
        code, f"cannot write {path}: {', '.join(parts)}; {advice}"
    )


@contextlib.contextmanager
def writing(path, needed=None, partial=None):
    """Turns a full disk or a read-only folder while writing `path` into a
    `WriteError` (removing `partial`, the temporary file, if given)."""
    try:
        yield
    except WriteError:
        raise
    except Exception as error:
        if write_error_errno(error) is None:
            raise
        if partial is not None:
            with contextlib.suppress(OSError):
                Path(partial).unlink(missing_ok=True)
        raise as_write_error(error, path, needed) from None


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


def write_bytes(path: "str | os.PathLike[str]", data: bytes) -> None:
    """Writes `data` to `path` atomically."""
    path = Path(path)
    tmp = partial_path(path)
    with writing(path, len(data), tmp):
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_text(path: "str | os.PathLike[str]", text: str) -> None:
    """Writes `text` to `path` atomically."""
    write_bytes(path, text.encode())


def write_json(path: "str | os.PathLike[str]", data) -> None:
    """Writes `data` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def model_bytes(model) -> int:
    """About the size of `model`'s saved file: its variables (weights and
    the optimizer's state)."""
    total = 0
    variables = list(model.variables)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables += list(getattr(optimizer, "variables", []))
    for variable in variables:
        size = 1
        for dim in variable.shape:
            size *= int(dim or 1)
        total += size * 4
    return total


def save_model(model, path: "str | os.PathLike[str]") -> None:
    """`model.save(path)` atomically (weights, optimizer state, variables).

    Raises:
        WriteError: no space or no permission; `path` is untouched.
    """
    path = Path(path)
    tmp = partial_path(path)
    with writing(path, model_bytes(model), tmp):
        model.save(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    _fsync_dir(path.parent)


def link_or_copy(source: "str | os.PathLike[str]", path) -> None:
    """Makes `path` a copy of `source` atomically (a hard link if possible,
    so that equal files take the disk space once)."""
    source, path = Path(source), Path(path)
    tmp = partial_path(path)
    with writing(path, source.stat().st_size, tmp):
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
            _fsync(tmp)
        os.replace(tmp, path)
    _fsync_dir(path.parent)


# An output folder being written holds this file until its last write: a
# folder left with it was interrupted, whatever else it holds.
INCOMPLETE_FILE = "INCOMPLETE"


def mark_incomplete(folder: Path) -> None:
    """Marks `folder` as being written (`INCOMPLETE_FILE`)."""
    write_text(
        Path(folder) / INCOMPLETE_FILE,
        f"Being written by process {os.getpid()}. If that process is gone, "
        "it was interrupted and this folder is incomplete.\n",
    )


def mark_complete(folder: Path) -> None:
    """Removes the mark of `mark_incomplete`: `folder` is whole."""
    (Path(folder) / INCOMPLETE_FILE).unlink(missing_ok=True)


def is_incomplete(folder: Path) -> bool:
    return (Path(folder) / INCOMPLETE_FILE).is_file()
