"""Rendering and reading berth's Kubernetes manifests (deploy/kubernetes) the way a cluster would.

`render` runs ``kubectl kustomize`` (installed on these machines); without it, or with a kustomize
older than v5, tests skip with the reason, except under ``CI=true``, where that is a failure.
`container_environment` and `expand` do what the kubelet does with a container's ``env``,
``envFrom`` and ``$(VAR)`` references, so a command line can be checked as the process receives it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

import yaml

from tests.support.unavailable import unavailable

REPO: Final = Path(__file__).resolve().parents[2]
KUBERNETES: Final = REPO / "deploy" / "kubernetes"
OVERLAYS: Final = ("overlays/production", "overlays/embedded-demo", "kserve")
MIN_KUSTOMIZE: Final = (5, 0)
POD_IP: Final = "10.244.1.17"
"""What ``status.podIP`` stands for when a command line is expanded outside a cluster."""

_VERSION: Final = re.compile(r"v?(\d+)\.(\d+)")
_REFERENCE: Final = re.compile(r"\$\((\w+)\)")


def kubectl_unavailable(message: str) -> NoReturn:
    unavailable(message, must_run="the manifest checks")


def kubectl() -> str:
    """The kubectl executable, checked to carry kustomize v5 or newer (skips, or fails under CI)."""
    executable = shutil.which("kubectl")
    if executable is None:
        kubectl_unavailable("kubectl is not installed (it renders the kustomize overlays)")
        raise AssertionError("unreachable")
    answer = subprocess.run(
        [executable, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60
    )
    version = json.loads(answer.stdout or "{}").get("kustomizeVersion", "")
    match = _VERSION.match(version)
    if answer.returncode != 0 or match is None or tuple(map(int, match.groups())) < MIN_KUSTOMIZE:
        kubectl_unavailable(f"kubectl's kustomize is {version or 'unknown'}; these overlays need v5 or newer")
    return executable


def render(executable: str, folder: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize folder`` renders (a failure is the test's failure)."""
    answer = subprocess.run(
        [executable, "kustomize", str(folder)], capture_output=True, text=True, timeout=120
    )
    assert answer.returncode == 0, f"kubectl kustomize {folder} failed:\n{answer.stderr}"
    return [obj for obj in yaml.safe_load_all(answer.stdout) if obj]


def relative(target: Path, folder: Path) -> str:
    """`target` as kustomize takes it from a kustomization in `folder`: a relative path."""
    return os.path.relpath(target, folder)


@dataclass(frozen=True)
class Workload:
    """A pod template of a rendered object (Deployment, Job) or a ServingRuntime's pod spec."""

    obj: dict[str, Any]
    pod: dict[str, Any]
    labels: dict[str, str]

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    def containers(self) -> list[dict[str, Any]]:
        return list(self.pod.get("containers", [])) + list(self.pod.get("initContainers", []))


def workloads(objects: list[dict[str, Any]]) -> Iterator[Workload]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            template = obj["spec"]["template"]
            yield Workload(obj, template["spec"], template.get("metadata", {}).get("labels", {}))
        elif obj["kind"] == "ServingRuntime":
            yield Workload(obj, obj["spec"], obj["spec"].get("labels", {}))


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r}, found {len(found)}"
    return found[0]


def _data(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "Secret":
        values = {k: base64.b64decode(v).decode() for k, v in obj.get("data", {}).items()}
        return values | dict(obj.get("stringData", {}))
    return dict(obj.get("data", {}))


def container_environment(
    objects: list[dict[str, Any]], workload: Workload, container: dict[str, Any]
) -> dict[str, str]:
    """The container's environment as the kubelet builds it: ``envFrom`` first, then ``env`` (values,
    ``$(VAR)`` references to earlier variables, ConfigMap and Secret keys, the pod's labels and IP)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if key in source:
                ref = source[key]
                matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == ref["name"]]
                assert matches or ref.get("optional"), (
                    f"{workload.name}: {kind} {ref['name']} is not rendered"
                )
                for obj in matches:
                    env.update(_data(obj))
    for var in container.get("env", []):
        env[var["name"]] = _value(objects, workload, var, env)
    return env


def _value(
    objects: list[dict[str, Any]], workload: Workload, var: dict[str, Any], env: dict[str, str]
) -> str:
    if "value" in var:
        return expand(str(var["value"]), env)
    source = var["valueFrom"]
    if "fieldRef" in source:
        path = source["fieldRef"]["fieldPath"]
        if path == "status.podIP":
            return POD_IP
        label = re.fullmatch(r"metadata\.labels\['([^']+)'\]", path)
        assert label is not None, f"{workload.name}: field {path} is not modelled here"
        assert label.group(1) in workload.labels, f"{workload.name}: the pod has no label {label.group(1)}"
        return workload.labels[label.group(1)]
    for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        if key in source:
            ref = source[key]
            data = _data(find(objects, kind, ref["name"]))
            assert ref["key"] in data, f"{workload.name}: {kind} {ref['name']} has no key {ref['key']}"
            return data[ref["key"]]
    raise AssertionError(f"{workload.name}: unmodelled valueFrom {source}")


def expand(text: str, env: dict[str, str]) -> str:
    """``$(VAR)`` replaced by the variable, as the kubelet does in ``command``, ``args`` and ``env``
    (an unknown reference is left as written, as the kubelet leaves it)."""
    return _REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def command_line(container: dict[str, Any], env: dict[str, str]) -> list[str]:
    return [expand(str(part), env) for part in [*container.get("command", []), *container.get("args", [])]]
