"""The feature views an endpoint serves, and reading their stores back for monitoring.

`ServedFeatures.views(name)` is what the ``features`` steps of an endpoint's pipeline read (none
for a model called by name, or an endpoint without such steps). `read` gives the stored rows of
keys as they are now (`FeatureService.read`: no TTL or default applied), or None when the store
errs or cannot be reached: monitoring reports that view's freshness as unavailable, it never fails.
Reads run one at a time (monitoring calls come from threads, each read on an event loop of its own,
and a store's connections belong to one loop).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence

from berth.control.feature_views import FeatureService
from berth.control.monitoring.feature_quality import ServedView
from berth.core.errors import BerthError
from berth.core.features import FeatureView
from berth.runtime.pipeline import parse_pipeline
from berth.runtime.pipeline.features import FeaturesStep
from berth.storage.feature_protocols import StoredRow
from berth.storage.protocols import EndpointStore

log = logging.getLogger(__name__)


class ServedFeatures:
    def __init__(self, endpoints: EndpointStore, features: FeatureService) -> None:
        self._endpoints = endpoints
        self._features = features
        self._lock = threading.Lock()

    def views(self, name: str) -> list[ServedView]:
        try:
            pipeline = parse_pipeline(self._endpoints.get_endpoint(name).spec.pipeline)
        except BerthError:
            return []  # a model called by name, or an endpoint gone since its records
        served: list[ServedView] = []
        for step in pipeline.pre:
            if not isinstance(step, FeaturesStep):
                continue
            for ref in step.views:
                try:
                    view = self._features.get(ref.view)
                except BerthError:
                    continue
                names = ref.features if ref.features is not None else tuple(view.features)
                served.append(ServedView(view, ref.key, names))
        return served

    def read(self, view: FeatureView, keys: Sequence[str]) -> Mapping[str, StoredRow] | None:
        with self._lock:
            try:
                return asyncio.run(self._features.read(view.name, keys))
            except (BerthError, OSError) as exc:
                log.warning("feature view %s not read back for monitoring: %s", view.name, exc)
                return None
