"""The optional radar extra: pysteps and the readers of its file formats."""

import importlib

INSTALL = "pip install -r requirements-radar.txt (or pip install '.[radar]')"
# The pip package of each module the radar features import.
PACKAGES = {
    "pysteps": "pysteps",
    "h5py": "h5py",
    "netCDF4": "netCDF4",
    "cv2": "opencv-python-headless",
}


class MissingExtraError(ImportError):
    """A package of the radar extra is not installed; the message names it."""


def require(module: str = "pysteps"):
    """Imports `module` of the radar extra, or says what to install.

    pysteps prints where it found its configuration file on import; that
    line is left as it is.

    Raises:
        MissingExtraError: the module is not installed (one line naming the
            package and the command that installs the extra).
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        root = module.split(".")[0]
        package = PACKAGES.get(root, root)
        raise MissingExtraError(
            f"radar data needs the package {package}, which is not "
            f"installed ({error}); install the radar extra: {INSTALL}"
        ) from None
