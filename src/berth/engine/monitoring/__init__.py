"""Monitoring: reference profiles, drift, accuracy from feedback, A/B comparison, staleness.

The small public API the server, the CLI and jobs build on (each result has ``to_json()``):

- `build_profile(sample, outputs=...) -> Profile` and `Profile.to_json` / `Profile.from_json`;
- `current_features(tensors_of_many_records) -> FeatureValues`;
- `compute_drift(profile, inputs, outputs, config) -> DriftReport`;
- `performance(labelled, output=..., bucket_s=...) -> PerformanceReport`;
- `compare_variants(labelled, a, b) -> Comparison`;
- `staleness(version, profile) -> Staleness`.
"""

from berth.engine.monitoring.comparison import Comparison, compare_variants
from berth.engine.monitoring.drift import DriftConfig, DriftReport, DriftStatus, FeatureDrift, compute_drift
from berth.engine.monitoring.features import FeatureValues, current_features
from berth.engine.monitoring.performance import PerformanceReport, performance
from berth.engine.monitoring.profile import FeatureKind, Profile, ProfileConfig
from berth.engine.monitoring.profiling import build_profile
from berth.engine.monitoring.staleness import Staleness, staleness

__all__ = [
    "Comparison",
    "DriftConfig",
    "DriftReport",
    "DriftStatus",
    "FeatureDrift",
    "FeatureKind",
    "FeatureValues",
    "PerformanceReport",
    "Profile",
    "ProfileConfig",
    "Staleness",
    "build_profile",
    "compare_variants",
    "compute_drift",
    "current_features",
    "performance",
    "staleness",
]
