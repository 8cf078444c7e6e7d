"""Monitoring: reference profiles, drift, accuracy from feedback, A/B comparison, staleness.

The small public API the server, the CLI and jobs build on (each result has ``to_json()``), by
module (imported from its module: this package imports nothing, so that pushing a model or
starting a server does not pay for scipy):

- `profiling.build_profile(sample, outputs=...) -> profile.Profile` (`Profile.to_json` /
  `Profile.from_json`);
- `features.current_features(tensors_of_many_records) -> features.FeatureValues`;
- `drift.compute_drift(profile, inputs, outputs, drift.DriftConfig(...)) -> drift.DriftReport`;
- `performance.performance(labelled, output=..., bucket_s=...) -> performance.PerformanceReport`;
- `comparison.compare_variants(labelled, a, b) -> comparison.Comparison`;
- `staleness.staleness(version, profile) -> staleness.Staleness`.
"""
