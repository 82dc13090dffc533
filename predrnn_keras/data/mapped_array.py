"""Arrays in .npy files and .npz members, read by memory mapping."""

import contextlib
import mmap
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from predrnn_keras.data.data_error import DataError

# Size of a zip local file header before its variable-length name and extra
# fields (APPNOTE.TXT 4.3.7), and the offsets of those two lengths in it.
_ZIP_LOCAL_HEADER_SIZE = 30
_ZIP_LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"


class MappedArray:
    """An array stored in an .npy file or in an uncompressed .npz member.

    Only the header is read on construction. `read` maps the file, copies the
    requested elements and unmaps it again, so the pages of a large file stay
    in the operating system's page cache and never accumulate in the
    resident memory of the process, whatever the size of the file. A member
    of a compressed .npz cannot be mapped: it is loaded into memory once (and
    a note says so).

    Args:
        path: the .npy or .npz file.
        key: the member of an .npz file (without ".npy"); None for .npy.

    Example:

    >>> array = MappedArray("mnist_test_seq.npy")
    >>> array.shape, array.dtype
    ((20, 10000, 64, 64), dtype('uint8'))
    >>> first = array.read((slice(0, 20), 0))   # (20, 64, 64)
    """

    def __init__(
        self, path: "str | os.PathLike[str]", key: "str | None" = None
    ):
        self.path = Path(path)
        self.key = key
        self.name = f"{self.path}[{key}]" if key is not None else str(self.path)
        self._loaded = None
        if not self.path.is_file():
            raise DataError(self.path, "file not found")
        offset = 0 if key is None else self._member_offset(key)
        if offset is None:
            print(
                f"Note: {self.name} is compressed and is loaded into memory; "
                "save it with numpy.savez (not savez_compressed) or as .npy "
                "to stream it from disk."
            )
            with np.load(self.path) as archive:
                self._loaded = archive[key]
            self.shape, self.dtype = self._loaded.shape, self._loaded.dtype
        else:
            self._read_header(offset)

    def _member_offset(self, key: str) -> "int | None":
        """Returns where member `key` starts in the file (None: compressed)."""
        try:
            with zipfile.ZipFile(self.path) as archive:
                names = [n[: -len(".npy")] for n in archive.namelist()]
                if key not in names:
                    raise DataError(
                        self.path,
                        f"no key '{key}' (keys: {', '.join(names) or 'none'})",
                    )
                info = archive.getinfo(f"{key}.npy")
        except zipfile.BadZipFile as err:
            raise DataError(
                self.path, f"not an .npz (zip) file ({err})"
            ) from err
        if info.compress_type != zipfile.ZIP_STORED:
            return None
        with open(self.path, "rb") as file:
            file.seek(info.header_offset)
            header = file.read(_ZIP_LOCAL_HEADER_SIZE)
        if header[:4] != _ZIP_LOCAL_HEADER_SIGNATURE:
            raise DataError(self.name, "damaged zip entry")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        return (
            info.header_offset
            + _ZIP_LOCAL_HEADER_SIZE
            + name_length
            + extra_length
        )

    def _read_header(self, offset: int) -> None:
        with open(self.path, "rb") as file:
            file.seek(offset)
            try:
                version = np.lib.format.read_magic(file)
                if version == (1, 0):
                    header = np.lib.format.read_array_header_1_0(file)
                elif version == (2, 0):
                    header = np.lib.format.read_array_header_2_0(file)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
            except ValueError as err:
                raise DataError(
                    self.name, f"not a readable .npy array ({err})"
                ) from err
            data_offset = file.tell()
        self.shape, fortran_order, self.dtype = header
        self._order = "F" if fortran_order else "C"
        self._data_offset = data_offset
        if self.dtype.hasobject:
            raise DataError(
                self.name, f"holds Python objects (dtype {self.dtype})"
            )
        size = int(np.prod(self.shape)) * self.dtype.itemsize
        available = os.path.getsize(self.path) - data_offset
        if available < size:
            raise DataError(
                self.name,
                f"truncated: shape {self.shape} of {self.dtype} needs "
                f"{size} bytes, found {available}",
            )

    @contextlib.contextmanager
    def mapped(self):
        """Maps the array for the duration of a `with` block.

        Yields:
            A read-only array backed by a memory map of the file (or the
            loaded array of a compressed member). Copy what you keep: the
            mapping closes once the array is no longer referenced.
        """
        if self._loaded is not None:
            yield self._loaded
            return
        if 0 in self.shape:
            yield np.empty(self.shape, self.dtype)
            return
        with open(self.path, "rb") as file:
            buffer = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        # The mapping closes when the last reference to the array goes, at
        # the end of the caller's `with` block.
        yield np.ndarray(
            self.shape,
            self.dtype,
            buffer=buffer,
            offset=self._data_offset,
            order=self._order,
        )

    def read(self, index) -> np.ndarray:
        """Returns a copy of `array[index]`."""
        with self.mapped() as array:
            return np.array(array[index])


def load_npz_arrays(
    path: "str | os.PathLike[str]", keys: tuple[str, ...], expected: str
) -> dict[str, np.ndarray]:
    """Loads small arrays of an .npz file fully into memory.

    Args:
        path: the .npz file.
        keys: the members to load.
        expected: what the file should be, for the message of a missing key.

    Returns:
        The arrays by key.

    Raises:
        DataError: a missing or unreadable file, or a missing key.
    """
    if not Path(path).is_file():
        raise DataError(path, "file not found")
    try:
        archive = np.load(path)
    except (
        OSError,
        ValueError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as err:
        raise DataError(path, f"not an .npz file ({err})") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            path, f"an .npy array, not an .npz file; expected {expected}"
        )
    with archive:
        for key in keys:
            if key not in archive.files:
                raise DataError(
                    path,
                    f"no key '{key}' (keys: {', '.join(archive.files)}); "
                    f"expected {expected}",
                )
        return {key: archive[key] for key in keys}
