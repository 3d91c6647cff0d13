"""Kinematics: joint angles, segment orientations and named per-frame features.

Public functions live in :mod:`~formcoach.kinematics.angles` and
:mod:`~formcoach.kinematics.features`; numba kernels are private (``_kernels``).
"""

from formcoach.kinematics.angles import (
    angular_velocity,
    joint_angle,
    joint_angle_3d,
    joint_angles,
    normalized_distance,
    segment_vertical_angle,
    shin_angle,
    torso_lean,
    torso_length,
)
from formcoach.kinematics.features import (
    FEATURES,
    Feature,
    FeatureExtractor,
    compute_features,
    feature_names,
)

__all__ = [
    "FEATURES",
    "Feature",
    "FeatureExtractor",
    "angular_velocity",
    "compute_features",
    "feature_names",
    "joint_angle",
    "joint_angle_3d",
    "joint_angles",
    "normalized_distance",
    "segment_vertical_angle",
    "shin_angle",
    "torso_lean",
    "torso_length",
]
