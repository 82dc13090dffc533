"""Small radar files in the formats that pysteps' importers read, for tests.

- `write_knmi_hdf5`: KNMI Data Centre HDF5 (importer `knmi_hdf5`): the
  5-minute accumulation in hundredths of mm as uint16 in
  image1/image_data (65535: no data), or reflectivity as uint8 with
  dBZ = 0.5 PV - 32 (255: no data), with the geographic group and its
  map_projection that the importer reads.
- `write_bom_nc`: BoM Rainfields3 NetCDF (importer `bom_rf3`): packed
  precipitation in mm (short, scale_factor 0.05, _FillValue -1: no data),
  x/y in km, the Albers projection variable, start_time and valid_time,
  whose difference is the accumulation time.
- `write_mch_gif`: MeteoSwiss 8-bit GIF (importer `mch_gif`, products AQC
  and CPC): the palette indices themselves are the digital numbers the
  importer maps through its lookup table (255: no data).
- `write_knmi_series`: a series of KNMI files 5 minutes apart with a moving
  rain blob, and the `[data]` table of kind "radar" that reads it.
"""

import datetime
from pathlib import Path

import numpy as np

KNMI_PATTERN = "%Y/%m/RAD_NL25_RAP_5min_%Y%m%d%H%M.h5"
KNMI_PROJ4 = (
    "+proj=stere +lat_0=90 +lon_0=0.0 +lat_ts=60.0 +a=6378.137 +b=6356.752 "
    "+x_0=0 +y_0=0"
)
KNMI_NODATA = {"ACRR": 65535, "DBZH": 255}


def _attr(value):
    return np.array([value], np.float32)


def write_knmi_hdf5(path, field, qty="ACRR", time=None):
    """Writes `field` as a KNMI radar HDF5 file.

    Args:
        path: the file to write (its folder is created).
        field: (H, W) values, NaN for no data: mm accumulated over the file's
            5 minutes for qty "ACRR" (stored in hundredths of mm, so values
            should be multiples of 0.01), dBZ for "DBZH" (stored as
            PV = (dBZ + 32) / 0.5, so multiples of 0.5 from -32 to 95).
        qty: "ACRR" or "DBZH", the importer's `qty`.
        time: the file's datetime, written to the overview group.
    """
    import h5py

    field = np.asarray(field, np.float64)
    missing = ~np.isfinite(field)
    if qty == "ACRR":
        pixels = np.rint(np.where(missing, 0.0, field) * 100.0)
        pixels = np.where(missing, KNMI_NODATA[qty], pixels).astype(np.uint16)
        formula = "GEO = 0.010000 * PV + 0.000000"
        parameter = "PRECIPITATION_[MM]"
    elif qty == "DBZH":
        pixels = np.rint((np.where(missing, 0.0, field) + 32.0) / 0.5)
        pixels = np.where(missing, KNMI_NODATA[qty], pixels).astype(np.uint8)
        formula = "GEO = 0.500000 * PV + -32.000000"
        parameter = "REFLECTIVITY_[DBZ]"
    else:
        raise ValueError(f"qty must be ACRR or DBZH, not {qty!r}")
    rows, cols = field.shape
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["number_image_groups"] = np.array([1], np.int32)
        f.attrs["number_satellite_groups"] = np.array([0], np.int32)
        f.attrs["number_station_groups"] = np.array([0], np.int32)
        overview = f.create_group("overview")
        overview.attrs["product_group_name"] = np.bytes_("RAD_NL25_RAP_5min")
        if time is not None:
            stamp = time.strftime("%d-%b-%Y;%H:%M:%S.000").upper()
            overview.attrs["product_datetime_start"] = np.bytes_(stamp)
            overview.attrs["product_datetime_end"] = np.bytes_(stamp)
        geographic = f.create_group("geographic")
        geographic.attrs["geo_column_offset"] = _attr(0.0)
        geographic.attrs["geo_row_offset"] = _attr(3650.0)
        geographic.attrs["geo_pixel_size_x"] = _attr(1.0000035)
        geographic.attrs["geo_pixel_size_y"] = _attr(-1.0000048)
        geographic.attrs["geo_number_columns"] = np.array([cols], np.int32)
        geographic.attrs["geo_number_rows"] = np.array([rows], np.int32)
        geographic.attrs["geo_dim_pixel"] = np.bytes_("KM,KM")
        geographic.attrs["geo_par_pixel"] = np.bytes_("X,Y")
        geographic.attrs["geo_pixel_def"] = np.bytes_("LU")
        projection = geographic.create_group("map_projection")
        projection.attrs["projection_indication"] = np.bytes_("Y")
        projection.attrs["projection_name"] = np.bytes_("STEREOGRAPHIC")
        projection.attrs["projection_proj4_params"] = np.bytes_(KNMI_PROJ4)
        image = f.create_group("image1")
        image.attrs["image_product_name"] = np.bytes_("RAD_NL25_RAP_5min")
        image.attrs["image_geo_parameter"] = np.bytes_(parameter)
        image.attrs["image_bytes_per_pixel"] = np.array(
            [pixels.dtype.itemsize], np.int32
        )
        image.create_dataset("image_data", data=pixels)
        calibration = image.create_group("calibration")
        calibration.attrs["calibration_flag"] = np.bytes_("Y")
        calibration.attrs["calibration_formulas"] = np.bytes_(formula)
        calibration.attrs["calibration_missing_data"] = np.array(
            [KNMI_NODATA[qty]], np.int32
        )
        calibration.attrs["calibration_out_of_image"] = np.array(
            [KNMI_NODATA[qty]], np.int32
        )


def write_bom_nc(path, field_mm, valid_time=None, accutime=6):
    """Writes `field_mm` as a BoM Rainfields3 NetCDF file (prcp-cscn).

    Args:
        path: the file to write (its folder is created).
        field_mm: (H, W) mm accumulated over `accutime` minutes, NaN for no
            data; stored packed in steps of 0.05 mm.
        valid_time: the end of the accumulation (a datetime).
        accutime: minutes from start_time to valid_time.
    """
    import netCDF4

    field_mm = np.asarray(field_mm, np.float64)
    rows, cols = field_mm.shape
    valid_time = valid_time or datetime.datetime(2018, 6, 16, 10, 0)
    epoch = datetime.datetime(1970, 1, 1)
    valid = int((valid_time - epoch).total_seconds())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.Conventions = "CF-1.7"
        ds.institution = "Commonwealth of Australia, Bureau of Meteorology"
        ds.createDimension("x", cols)
        ds.createDimension("y", rows)
        proj = ds.createVariable("proj", "i4")
        proj.grid_mapping_name = "albers_conical_equal_area"
        proj.standard_parallel = np.array([-18.0, -36.0])
        proj.longitude_of_central_meridian = 151.0
        proj.latitude_of_projection_origin = -33.0
        proj.false_easting = 0.0
        proj.false_northing = 0.0
        for name, seconds in (
            ("valid_time", valid),
            ("start_time", valid - 60 * accutime),
        ):
            variable = ds.createVariable(name, "i8")
            variable.units = "seconds since 1970-01-01 00:00:00 UTC"
            variable.standard_name = "time"
            variable[...] = seconds
        x = ds.createVariable("x", "f4", ("x",))
        x.units = "km"
        x.standard_name = "projection_x_coordinate"
        x[:] = -128.0 + np.arange(cols) * 0.5
        y = ds.createVariable("y", "f4", ("y",))
        y.units = "km"
        y.standard_name = "projection_y_coordinate"
        y[:] = 128.0 - np.arange(rows) * 0.5
        precipitation = ds.createVariable(
            "precipitation", "i2", ("y", "x"), fill_value=np.int16(-1)
        )
        precipitation.units = "mm"
        precipitation.standard_name = "precipitation_amount"
        precipitation.grid_mapping = "proj"
        precipitation.scale_factor = np.float32(0.05)
        precipitation.add_offset = np.float32(0.0)
        precipitation.set_auto_maskandscale(False)
        missing = ~np.isfinite(field_mm)
        packed = np.rint(np.where(missing, 0.0, field_mm) / 0.05)
        precipitation[:] = np.where(missing, -1, packed).astype(np.int16)


def write_mch_gif(path, numbers):
    """Writes digital numbers (H, W) uint8 as a MeteoSwiss 8-bit GIF.

    The palette indices are the numbers; the palette is a grey ramp, which
    the importer of the AQC and CPC products ignores.
    """
    from PIL import Image

    image = Image.fromarray(np.asarray(numbers, np.uint8), mode="P")
    image.putpalette(np.repeat(np.arange(256, dtype=np.uint8), 3).tolist())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="GIF", optimize=False)


def knmi_path(folder, moment: datetime.datetime) -> Path:
    """Where `write_knmi_series` writes the file of `moment`."""
    return Path(folder) / moment.strftime(KNMI_PATTERN)


def rain_blob(index: int, size) -> np.ndarray:
    """A Gaussian rain blob moving one pixel right and down per frame, in
    mm per 5 minutes (peak 2 mm), rounded to hundredths of mm."""
    height, width = (size, size) if isinstance(size, int) else size
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    cy, cx = height / 4 + index, width / 4 + index
    sigma = max(height, width) / 8
    field = 2.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    return np.round(field, 2)


def write_knmi_series(folder, start, count, size, values_fn=rain_blob,
                      splits=None):
    """Writes `count` KNMI files 5 minutes apart from `start`.

    Args:
        folder: the data folder (files go to folder/%Y/%m/).
        start: the first file's datetime.
        count: how many files.
        size: field size, an integer or (height, width).
        values_fn: `values_fn(index, size)` -> (H, W) mm per 5 minutes.
        splits: frames of (train, val, test), consecutive, in order;
            default: a quarter of the frames each for val and test.

    Returns:
        The `[data]` table of kind "radar" that reads the series, with its
        train, val and test time ranges and a cache folder beside `folder`.
    """
    folder = Path(folder)
    step = datetime.timedelta(minutes=5)
    for index in range(count):
        moment = start + index * step
        write_knmi_hdf5(
            knmi_path(folder, moment), values_fn(index, size), time=moment
        )
    if splits is None:
        quarter = count // 4
        splits = (count - 2 * quarter, quarter, quarter)
    if sum(splits) > count or min(splits) < 1:
        raise ValueError(f"splits {splits} do not fit in {count} frames")
    ranges, first = {}, 0
    for name, frames in zip(("train", "val", "test"), splits):
        ranges[f"{name}_times"] = [[
            f"{start + first * step:%Y-%m-%d %H:%M}",
            f"{start + (first + frames - 1) * step:%Y-%m-%d %H:%M}",
        ]]
        first += frames
    return {
        "kind": "radar",
        "path": str(folder),
        "pattern": KNMI_PATTERN,
        "importer": "knmi_hdf5",
        "timestep": 5,
        **ranges,
        "cache_dir": str(folder.with_name(folder.name + "-cache")),
    }
