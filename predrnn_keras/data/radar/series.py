"""The time series of radar files: found by a pattern, walked step by step.

The files are found under `path` by a file name `pattern` with time codes
(`%Y%m%d/AQC%y%j%H%M?_00005.801.gif`). A time range holds a file at every
`timestep`: a file missing inside a range is an error, not a silent jump in
time.
"""

import datetime
import os
import re
from pathlib import Path

from predrnn_keras.data.data_error import DataError

# Time codes of `pattern`, as regular expressions of their digits.
_CODES = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "j": r"\d{3}",
    "H": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
}


def pattern_regex(pattern: str) -> re.Pattern:
    """The regular expression of a file pattern, with a group per time code.

    Raises:
        ValueError: an unknown time code.
    """
    parts, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "%" and index + 1 < len(pattern):
            code = pattern[index + 1]
            if code == "%":
                parts.append("%")
            elif code in _CODES:
                parts.append(f"(?P<{code}{index}>{_CODES[code]})")
            else:
                raise ValueError(
                    f"Expected [data] pattern to use the time codes "
                    f"{' '.join('%' + c for c in _CODES)}. Received: "
                    f"%{code} in {pattern!r}"
                )
            index += 2
            continue
        parts.append({"?": "[^/]", "*": "[^/]*"}.get(char, re.escape(char)))
        index += 1
    return re.compile("".join(parts))


def _time_of(match: re.Match) -> datetime.datetime:
    fields = {}
    for name, digits in match.groupdict().items():
        fields.setdefault(name[0], int(digits))
    year = fields.get("Y", 2000 + fields.get("y", 0))
    if "j" in fields:
        day = datetime.datetime(year, 1, 1) + datetime.timedelta(
            days=fields["j"] - 1
        )
    else:
        day = datetime.datetime(year, fields.get("m", 1), fields.get("d", 1))
    return day.replace(
        hour=fields.get("H", 0),
        minute=fields.get("M", 0),
        second=fields.get("S", 0),
    )


def find_radar_files(root: Path, pattern: str) -> dict:
    """Maps the time of every file under `root` matching `pattern` to it.

    Where a wildcard lets two files share a time, the first in sorted order
    is taken.

    Raises:
        DataError: `root` is missing or no file matches.
    """
    if not root.is_dir():
        raise DataError(root, "folder not found")
    regex = pattern_regex(pattern)
    found = {}
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        for name in sorted(names):
            path = Path(directory) / name
            match = regex.fullmatch(path.relative_to(root).as_posix())
            if match:
                try:
                    moment = _time_of(match)
                except ValueError:
                    continue  # digits that are no date, e.g. month 13
                found.setdefault(moment, path)
    if not found:
        raise DataError(
            root, f"no file matches the pattern {pattern!r} under this folder"
        )
    return found


def series_files(
    found: dict,
    first: datetime.datetime,
    last: datetime.datetime,
    timestep: int,
    root: Path,
    pattern: str,
) -> list[tuple[datetime.datetime, Path]]:
    """The files of every time step from `first` to `last`.

    Raises:
        DataError: a time step without a file (a gap in the time series).
    """
    step = datetime.timedelta(minutes=timestep)
    files, moment = [], first
    while moment <= last:
        if moment not in found:
            known = sorted(found)
            raise DataError(
                root,
                f"no file for {moment:%Y-%m-%d %H:%M} (pattern {pattern!r}): "
                f"a gap in the time series {first:%Y-%m-%d %H:%M} to "
                f"{last:%Y-%m-%d %H:%M} at {timestep}-minute steps; the files "
                f"found run from {known[0]:%Y-%m-%d %H:%M} to "
                f"{known[-1]:%Y-%m-%d %H:%M}; split the range at the gap",
            )
        files.append((moment, found[moment]))
        moment += step
    return files
