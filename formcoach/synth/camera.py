"""Pinhole camera placed around the athlete by view azimuth, distance and height."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Camera"]


@dataclass(frozen=True, slots=True)
class Camera:
    """A pinhole camera looking at ``target`` from ``azimuth_deg`` around the athlete.

    Azimuth 0 = in front of the athlete (who faces +Z), 90 = on the athlete's left side (+X).
    Intrinsics ``fx, fy, cx, cy`` in pixels; ``width, height`` the image size in pixels.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    azimuth_deg: float
    distance_m: float
    height_m: float
    target: tuple[float, float, float]

    @classmethod
    def create(
        cls,
        width: int,
        height: int,
        hfov_deg: float,
        azimuth_deg: float,
        distance_m: float,
        height_m: float,
        target: tuple[float, float, float],
    ) -> Camera:
        """Square pixels, principal point at the image centre, horizontal FOV ``hfov_deg``."""
        f = 0.5 * width / np.tan(np.radians(0.5 * hfov_deg))
        return cls(width, height, float(f), float(f), width / 2.0, height / 2.0,
                   float(azimuth_deg), float(distance_m), float(height_m),
                   (float(target[0]), float(target[1]), float(target[2])))

    @property
    def position(self) -> np.ndarray:
        """Camera centre in world metres ``(3,)``."""
        a = np.radians(self.azimuth_deg)
        t = np.asarray(self.target)
        return np.array(
            [t[0] + self.distance_m * np.sin(a), self.height_m, t[2] + self.distance_m * np.cos(a)]
        )

    @property
    def rotation(self) -> np.ndarray:
        """World-to-camera rotation ``(3, 3)``: rows are image right, image down, viewing axis."""
        f = np.asarray(self.target) - self.position
        f = f / np.linalg.norm(f)
        r = np.cross(f, [0.0, 1.0, 0.0])
        r = r / np.linalg.norm(r)
        d = np.cross(f, r)
        return np.stack([r, d, f])

    @property
    def intrinsics(self) -> dict[str, float]:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}

    def to_camera(self, pts: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` to camera coordinates ``(..., 3)`` (z = depth, m)."""
        return (np.asarray(pts) - self.position) @ self.rotation.T

    def project(self, pts: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` to ``(..., 3)``: u px, v px, depth m."""
        c = self.to_camera(pts)
        z = c[..., 2]
        u = self.fx * c[..., 0] / z + self.cx
        v = self.fy * c[..., 1] / z + self.cy
        return np.stack([u, v, z], axis=-1)
