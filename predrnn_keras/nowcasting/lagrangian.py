"""The Lagrangian frame: radar fields with the motion taken out.

Rain moves faster than it grows or decays. In the Lagrangian frame of the
last observed field, every field of a sequence is moved along the motion
field to where it stands at that time: a field observed `j` steps before
is advected `j` steps forward, a field `k` steps after (a training target)
`k` steps backward. What is left from frame to frame is the evolution of
the rain (growth, decay, change of shape), which a network can learn
without learning the motion. A forecast made in the Lagrangian frame goes
back by advecting its `k`-th field `k` steps forward, so a forecast that
keeps the last field unchanged is optical-flow extrapolation
(`nowcasting.baselines.extrapolation`) exactly.

The motion field is estimated from the context by a `pysteps.motion`
method (`baselines.motion_field`) and held constant; the trajectories are
pysteps' semi-Lagrangian ones (`pysteps.extrapolation.semilagrangian`, one
midpoint iteration a step), and fields are interpolated linearly along
them in physical units, as extrapolation does. Where a trajectory leaves
the domain there is nothing to move, and the field there is "no rain" (0
mm/h, or the transform's zero value in dBZ), as extrapolation fills it.
"""

import numpy as np

from predrnn_keras.nowcasting import baselines
from predrnn_keras.nowcasting.extra import require
from predrnn_keras.nowcasting.transform import RadarTransform


class LagrangianFrame:
    """Moves fields into the frame of one time and back.

    Args:
        transform: the data's `RadarTransform` (its unit sets "no rain"; the
            motion is estimated on its dB values). None: mm/h, 0.1 mm/h.
        motion: the motion method (`baselines.MOTION_METHODS`).
        motion_kwargs: more keyword arguments of the pysteps method.
    """

    def __init__(
        self,
        transform: "RadarTransform | None" = None,
        motion: str = "LK",
        motion_kwargs: "dict | None" = None,
    ):
        self.transform = RadarTransform() if transform is None else transform
        self.motion_method = baselines.check_motion_method(motion)
        self.motion_kwargs = dict(motion_kwargs or {})

    @property
    def no_rain(self) -> float:
        """The value of "no rain" in the data's unit."""
        if self.transform.unit == "mm/h":
            return 0.0
        return float(self.transform.zero_db)

    def motion(self, context) -> np.ndarray:
        """The motion field of `(T, H, W)` context fields: float64
        `(2, H, W)`, x then y, in pixels per time step."""
        return baselines.motion_field(
            context, self.motion_method, self.transform, self.motion_kwargs
        )

    @staticmethod
    def displacements(velocity, steps: int, backward: bool = False) -> list:
        """The displacements of the trajectories after 1, ..., `steps` time
        steps: a field advected `k` steps is the field sampled at the grid
        plus the `k`-th displacement. `backward` follows the motion back in
        time."""
        velocity = np.asarray(velocity, np.float64)
        if backward:
            velocity = -velocity
        extrapolate = require("pysteps.extrapolation.semilagrangian")
        out, displacement = [], None
        for _ in range(steps):
            _, displacement = extrapolate.extrapolate(
                None,
                velocity,
                1,
                return_displacement=True,
                displacement_prev=displacement,
            )
            out.append(displacement)
        return out

    def warp(self, field, displacement, outside=None) -> np.ndarray:
        """`field` sampled along `displacement` (linear interpolation, "no
        rain", or `outside`, where a trajectory leaves the domain), as
        pysteps' scheme samples it."""
        ndimage = require("scipy.ndimage")
        height, width = np.shape(field)
        x, y = np.meshgrid(np.arange(width), np.arange(height))
        coords = [y + displacement[1], x + displacement[0]]
        return ndimage.map_coordinates(
            np.asarray(field, np.float64),
            coords,
            mode="constant",
            cval=self.no_rain if outside is None else outside,
            order=1,
            prefilter=False,
        )

    def _fill(self, frames) -> np.ndarray:
        """No data (NaN) counts as no rain, as in extrapolation."""
        return np.nan_to_num(
            np.asarray(frames, np.float64), nan=self.no_rain
        )

    def to_lagrangian(self, frames, velocity, reference: int) -> np.ndarray:
        """`(T, H, W)` fields moved to the time of frame `reference`:
        frame `i` advected `reference - i` steps (backward when negative).

        Returns:
            float32 `(T, H, W)` in the fields' unit, without NaN.
        """
        frames = self._fill(frames)
        ahead = max(reference, 0)
        behind = max(len(frames) - 1 - reference, 0)
        forward = self.displacements(velocity, ahead)
        backward = self.displacements(velocity, behind, backward=True)
        out = np.empty(frames.shape, np.float32)
        for i, field in enumerate(frames):
            steps = reference - i
            if steps == 0:
                out[i] = field
            elif steps > 0:
                out[i] = self.warp(field, forward[steps - 1])
            else:
                out[i] = self.warp(field, backward[-steps - 1])
        return out

    def from_lagrangian(self, future, velocity, outside=None) -> np.ndarray:
        """A forecast in the Lagrangian frame back to the grid: its `k`-th
        field (k = 1, 2, ...) advected `k` steps forward.

        Args:
            future: `(K, H, W)` in the fields' unit.
            velocity: the motion field of the context.
            outside: the value where a trajectory comes from outside the
                domain (None: "no rain" in the fields' unit), for fields in
                another unit (the model's values, say).

        Returns:
            float32 `(K, H, W)` in the fields' unit.
        """
        future = self._fill(future)
        forward = self.displacements(velocity, len(future))
        return np.stack(
            [self.warp(f, d, outside) for f, d in zip(future, forward)]
        ).astype(np.float32)
