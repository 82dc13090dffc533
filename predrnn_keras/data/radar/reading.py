"""One radar file as a field: imported, converted, cropped and averaged down.

A file is read by one of pysteps' importers (`importer`, with
`importer_options`), converted to rain rate (mm/h) or reflectivity (dBZ),
cropped (`crop`) and averaged down to `image_size`. No-data pixels stay NaN.

pysteps and the readers of the formats (h5py, netCDF4) are the optional
radar extra, imported only when a file is read.
"""

from pathlib import Path

import numpy as np

from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.radar.settings import RadarSettings
from predrnn_keras.nowcasting.extra import INSTALL
from predrnn_keras.nowcasting.extra import MissingExtraError
from predrnn_keras.nowcasting.extra import require


def area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) weights of area averaging `source` pixels to
    `target`: each output pixel is the mean of the inputs it covers, partial
    pixels weighted by the covered fraction."""
    edges = np.arange(target + 1) * (source / target)
    left = np.maximum(np.arange(source)[None, :], edges[:-1, None])
    right = np.minimum(np.arange(1, source + 1)[None, :], edges[1:, None])
    return np.clip(right - left, 0.0, None) / (source / target)


def area_resize(field: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Averages a (H, W) field with NaN holes down (or up) to `size`.

    An output pixel is the mean of the valid inputs it covers, or NaN where
    less than half of what it covers is valid.
    """
    if field.shape == tuple(size):
        return field.astype(np.float32)
    rows = area_weights(field.shape[0], size[0])
    cols = area_weights(field.shape[1], size[1])
    valid = np.isfinite(field)
    total = rows @ np.where(valid, field, 0.0) @ cols.T
    share = rows @ valid.astype(np.float64) @ cols.T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(share >= 0.5, total / share, np.nan)
    return out.astype(np.float32)


def get_importer(name: str):
    """pysteps' importer function `name`.

    Raises:
        ValueError: an unknown importer (the message lists the known ones).
    """
    io = require("pysteps.io")
    try:
        return io.get_method(name, "importer")
    except ValueError:
        known = sorted(io.interface._importer_methods)
        raise ValueError(
            f"Expected [data] importer to be a pysteps importer, one of "
            f"{', '.join(known)}. Received: importer={name!r}"
        ) from None


def read_radar_file(
    path: Path, settings: RadarSettings, importer, grid: "dict | None" = None
) -> np.ndarray:
    """One file as a float32 (H, W) field in the settings' unit, cropped and
    resized, NaN where there is no data.

    Args:
        grid: a dict to receive the importer's grid: `pixel_km`, the size
            of its pixels in km (None where its metadata does not tell),
            and `rows`, its height in pixels.

    Raises:
        DataError: the importer cannot read the file, the crop does not fit
            in its field, or the (cropped) field holds no data at all.
    """
    field, metadata = _import_field(path, settings, importer)
    if grid is not None:
        grid.update(pixel_km=_pixel_km(metadata), rows=int(field.shape[0]))
    if field.ndim != 2:
        raise DataError(
            path,
            f"the importer returned a field of shape {field.shape}; "
            "expected one 2-D field",
        )
    if settings.crop is not None:
        top, left, height, width = settings.crop
        if top + height > field.shape[0] or left + width > field.shape[1]:
            raise DataError(
                path,
                f"crop {list(settings.crop)} does not fit in its field of "
                f"{field.shape[0]}x{field.shape[1]} pixels",
            )
        field = field[top : top + height, left : left + width]
    if not np.isfinite(field).any():
        raise DataError(
            path,
            f"every pixel of its {field.shape[0]}x{field.shape[1]} field is "
            "no-data (an outage?); leave its time out of the split's time "
            "ranges, or remove the file",
        )
    if settings.image_size is not None:
        field = area_resize(field, settings.image_size)
    return field.astype(np.float32)


def _pixel_km(metadata) -> "float | None":
    """The size in km of an importer's pixels, from its metadata."""
    try:
        size = float(metadata["xpixelsize"])
    except (KeyError, TypeError, ValueError):
        return None
    unit = str(metadata.get("cartesian_unit", "m")).strip().lower()
    return size if unit == "km" else size / 1000.0


def _import_field(path: Path, settings: RadarSettings, importer):
    """The importer's field of `path` in the settings' unit, float64, and
    its metadata.

    Raises:
        DataError: the importer cannot read the file.
        MissingExtraError: the importer's format package is not installed.
    """
    conversion = require("pysteps.utils.conversion")
    exceptions = require("pysteps.exceptions")
    try:
        field, _, metadata = importer(str(path), **settings.importer_options)
        field = np.asarray(field, np.float64)
        if settings.unit == "mm/h":
            field, _ = conversion.to_rainrate(field, metadata)
        else:
            field, _ = conversion.to_reflectivity(field, metadata)
    except MissingExtraError:
        raise
    except exceptions.MissingOptionalDependency as error:
        # The importer's format package (h5py, netCDF4, ...) is missing.
        message = " ".join(str(error).split())
        raise MissingExtraError(
            f"radar data: {message}; install the radar extra: {INSTALL}"
        ) from None
    except Exception as error:  # pysteps and its readers raise many types
        message = " ".join(str(error).split()) or type(error).__name__
        raise DataError(
            path,
            f"the importer {settings.importer} cannot read it "
            f"({type(error).__name__}: {message})",
        ) from None
    return np.asarray(field, np.float64), metadata
