"""berth's Kubernetes manifests (deploy/kubernetes): every overlay renders with ``kubectl kustomize``,
every object validates offline against the Kubernetes schemas of `KUBERNETES_VERSION`
(kubernetes-validate, strict: an unknown field is an error), and the properties a platform team
relies on hold for every object: hardened containers with probes and resources, a disruption budget
per Deployment, ingress only where callers belong, settings berth knows, and command lines that
berth's own CLI parses.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.resources
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import click
import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml
from sqlalchemy.engine import make_url

from berth.cli.main import cli
from berth.core.settings import Settings
from berth.runtime.flavors.catalog import FlavorCatalog
from berth.server.metrics.families import MetricFamilies
from tests.deploy.kubernetes import (
    KUBERNETES,
    OVERLAYS,
    POD_IP,
    REPO,
    Workload,
    command_line,
    container_environment,
    find,
    kubectl,
    relative,
    render,
    workloads,
)

KUBERNETES_VERSION: Final = "1.32.0"
"""Validated against this release's schemas (kubectl v1.32 renders them here); raise it with the
oldest Kubernetes berth supports."""

HOME: Final = "/var/lib/berth"
SCRATCH: Final = "/tmp"
USER: Final = 10001
ROLES_WITH_PROBES: Final = ("Deployment", "ServingRuntime")
BERTH_PORT: Final = 8080
GRPC_PORT: Final = 8081
SERVING_RUNTIME_PROTOCOLS: Final = ("v1", "v2", "grpc-v1", "grpc-v2")
FLAVOR_DISTRIBUTIONS: Final = {
    "sklearn": "scikit-learn",
    "xgboost": "xgboost-cpu",
    "lightgbm": "lightgbm",
    "onnx": "onnxruntime",
}
"""The Python distribution whose major version a ServingRuntime's model format version names."""


@pytest.fixture(scope="module")
def executable() -> str:
    return kubectl()


@pytest.fixture(scope="module")
def rendered(executable: str) -> dict[str, list[dict[str, Any]]]:
    return {overlay: render(executable, KUBERNETES / overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="module")
def everything(rendered: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[dict[str, Any]]]]:
    return list(rendered.items())


@pytest.fixture(scope="module")
def production(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return rendered["overlays/production"]


def _workloads(everything: list[tuple[str, list[dict[str, Any]]]]) -> Iterator[tuple[str, Workload]]:
    for overlay, objects in everything:
        for workload in workloads(objects):
            yield overlay, workload


# -- the schemas ---------------------------------------------------------------------------------


def test_every_object_validates_against_the_kubernetes_schemas(
    everything: list[tuple[str, list[dict[str, Any]]]],
) -> None:
    checked = 0
    for overlay, objects in everything:
        for obj in objects:
            if obj["kind"] == "ServingRuntime":
                continue  # a KServe custom resource: test_the_serving_runtime_has_kserves_shape
            where = f"{overlay}: {obj['kind']} {obj['metadata']['name']}"
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(p) for p in error.path)
                pytest.fail(f"{where} is invalid at {path}: {error.message}")
            checked += 1
    assert checked >= 35  # every overlay rendered something


def test_the_schema_check_refuses_a_broken_object(production: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(find(production, "Deployment", "berth-api"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}  # a typo: unknown field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def _kubernetes_definitions() -> referencing.Registry[Any]:
    schemas = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    folder = schemas / f"v{KUBERNETES_VERSION}-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())
    return referencing.Resource.from_contents(definitions) @ referencing.Registry()


def _core(name: str) -> dict[str, str]:
    return {"$ref": f"/api/_definitions.json#/$defs/io.k8s.api.core.v1.{name}"}


_STRINGS: Final = {"type": "object", "additionalProperties": {"type": "string"}}
SERVING_RUNTIME_SCHEMA: Final = {
    # KServe's ServingRuntime (serving.kserve.io/v1alpha1, ServingRuntimeSpec in KServe's
    # pkg/apis/serving/v1alpha1): its own fields written out, the Kubernetes types it embeds
    # (Container, Volume, Toleration, Affinity) from the Kubernetes schemas.
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://kubernetes.io/api/servingruntime-serving-v1alpha1.json",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1alpha1"},
        "kind": {"const": "ServingRuntime"},
        "metadata": {"$ref": "/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "spec": {
            "type": "object",
            "required": ["containers"],
            "additionalProperties": False,
            "properties": {
                "supportedModelFormats": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "version": {"type": "string"},
                            "autoSelect": {"type": "boolean"},
                            "priority": {"type": "integer", "minimum": 1},
                        },
                    },
                },
                "multiModel": {"type": "boolean"},
                "disabled": {"type": "boolean"},
                "protocolVersions": {"type": "array", "items": {"enum": list(SERVING_RUNTIME_PROTOCOLS)}},
                "containers": {"type": "array", "minItems": 1, "items": _core("Container")},
                "volumes": {"type": "array", "items": _core("Volume")},
                "nodeSelector": _STRINGS,
                "affinity": _core("Affinity"),
                "tolerations": {"type": "array", "items": _core("Toleration")},
                "labels": _STRINGS,
                "annotations": _STRINGS,
                "imagePullSecrets": {"type": "array", "items": _core("LocalObjectReference")},
                "hostIPC": {"type": "boolean"},
                "grpcEndpoint": {"type": "string"},
                "grpcDataEndpoint": {"type": "string"},
                "httpDataEndpoint": {"type": "string"},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 65535},
                "storageHelper": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"disabled": {"type": "boolean"}},
                },
            },
        },
    },
}


def _serving_runtime_errors(obj: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(SERVING_RUNTIME_SCHEMA, registry=_kubernetes_definitions())
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]


def test_the_serving_runtime_has_kserves_shape(rendered: dict[str, list[dict[str, Any]]]) -> None:
    runtimes = [o for o in rendered["kserve"] if o["kind"] == "ServingRuntime"]
    assert len(runtimes) == 1
    runtime = runtimes[0]
    assert _serving_runtime_errors(runtime) == []
    spec = runtime["spec"]
    assert spec["protocolVersions"] == ["v2", "grpc-v2"]  # Open Inference Protocol v2, REST and gRPC
    assert spec["multiModel"] is False  # one model from /mnt/models
    (container,) = spec["containers"]
    assert container["name"] == "kserve-container"  # the container KServe merges the predictor into
    assert [p["containerPort"] for p in container["ports"]] == [BERTH_PORT]
    args = container["args"]
    assert args[args.index("--grpc-port") + 1] == str(GRPC_PORT)
    assert args[args.index("--model-dir") + 1] == "/mnt/models"  # where the storage initializer writes


def test_the_serving_runtime_check_refuses_what_kserve_refuses(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    runtime = next(o for o in rendered["kserve"] if o["kind"] == "ServingRuntime")
    for mutate in (
        lambda s: s.update(protocolVersions=["v3"]),
        lambda s: s["supportedModelFormats"].append({"version": "1"}),
        lambda s: s["containers"][0].update(imagePullPolicy=7),
        lambda s: s.update(containers=[]),
        lambda s: s.update(modelFormats=[]),
    ):
        broken = copy.deepcopy(runtime)
        mutate(broken["spec"])
        assert _serving_runtime_errors(broken), broken["spec"]


def test_the_serving_runtime_lists_the_formats_berth_serves(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    runtime = next(o for o in rendered["kserve"] if o["kind"] == "ServingRuntime")
    flavors = set(FlavorCatalog().names())
    for model_format in runtime["spec"]["supportedModelFormats"]:
        name = model_format["name"]
        assert name in flavors, f"berth has no flavor {name!r} ({sorted(flavors)})"
        major = importlib.metadata.version(FLAVOR_DISTRIBUTIONS[name]).split(".")[0]
        assert model_format["version"] == major, f"{name}: berth serves {major}.x"
        assert model_format["autoSelect"] is False  # KServe's own runtimes stay the default


# -- every container ------------------------------------------------------------------------------


def test_every_container_is_hardened(everything: list[tuple[str, list[dict[str, Any]]]]) -> None:
    seen = 0
    for overlay, workload in _workloads(everything):
        pod_context = workload.pod.get("securityContext", {})
        for container in workload.containers():
            where = f"{overlay}: {workload.kind} {workload.name}, container {container['name']}"
            context = {**pod_context, **container.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser") == USER, where  # the image's user (uid 10001)
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("capabilities", {}).get("add"), where
            assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            assert not container.get("securityContext", {}).get("privileged"), where
            seen += 1
    assert seen >= 9


def test_berth_writes_only_to_its_writable_volumes(
    everything: list[tuple[str, list[dict[str, Any]]]],
) -> None:
    for overlay, workload in _workloads(everything):
        volumes = {v["name"]: v for v in workload.pod.get("volumes", [])}
        for container in workload.containers():
            where = f"{overlay}: {workload.kind} {workload.name}"
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            assert set(mounts) == {HOME, SCRATCH}, where
            for path, mount in mounts.items():
                assert not mount.get("readOnly"), where
                volume = volumes[mount["name"]]
                assert "emptyDir" in volume or (path == HOME and "persistentVolumeClaim" in volume), where
                if "emptyDir" in volume:
                    assert volume["emptyDir"].get("sizeLimit"), f"{where}: {path} unbounded"
            env = container_environment(_objects_of(everything, overlay), workload, container)
            assert env.get("BERTH_HOME") == HOME, where
            assert env.get("HOME") == HOME, where  # a library's ~/.cache must not hit the read-only root


def _objects_of(everything: list[tuple[str, list[dict[str, Any]]]], overlay: str) -> list[dict[str, Any]]:
    return dict(everything)[overlay]


def test_every_container_has_resources(everything: list[tuple[str, list[dict[str, Any]]]]) -> None:
    for overlay, workload in _workloads(everything):
        for container in workload.containers():
            where = f"{overlay}: {workload.kind} {workload.name}"
            resources = container.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), where
            assert "memory" in resources.get("limits", {}), where  # no CPU limit: no throttling


def test_every_server_has_probes_on_its_health_paths(
    everything: list[tuple[str, list[dict[str, Any]]]],
) -> None:
    for overlay, workload in _workloads(everything):
        if workload.kind not in ROLES_WITH_PROBES:
            continue  # the migration Job runs to completion
        for container in workload.containers():
            where = f"{overlay}: {workload.kind} {workload.name}"
            # Knative (KServe's serverless mode) refuses startupProbe: the runtime waits in readiness
            kinds = (
                ("liveness", "readiness")
                if workload.kind == "ServingRuntime"
                else ("startup", "liveness", "readiness")
            )
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            for kind in kinds:
                probe = container.get(f"{kind}Probe")
                assert probe is not None, f"{where}: no {kind} probe"
                expected = "/v2/health/ready" if kind == "readiness" else "/v2/health/live"
                assert probe["httpGet"]["path"] == expected, f"{where}: {kind}"
                port = probe["httpGet"]["port"]
                assert port in ports or port in ports.values(), f"{where}: {kind} probes port {port}"


# -- the command lines and settings ---------------------------------------------------------------


def parse_berth_command(argv: list[str]) -> click.Context:
    """`argv` parsed by berth's click CLI down to its command, as `berth` would before running it
    (types, choices and unknown options are refused with click's own errors); nothing runs."""
    assert argv[0] == "berth", argv
    command: click.Command = cli
    parent: click.Context | None = None
    args = argv[1:]
    while isinstance(command, click.Group):
        assert args, f"no subcommand in {argv}"
        assert not args[0].startswith("-"), f"no subcommand in {argv}"
        context = click.Context(command, info_name=args[0], parent=parent)
        sub = command.get_command(context, args[0])
        assert sub is not None, f"berth has no command {args[0]!r} ({argv})"
        command, parent, args = sub, context, args[1:]
    return command.make_context(command.name, list(args), parent=parent)


def _refusal(argv: list[str]) -> str | None:
    """Why berth's CLI refuses `argv`, or None when it parses."""
    try:
        parse_berth_command(argv)
    except click.UsageError as error:
        return error.format_message()
    return None


def test_every_command_line_parses_with_berths_cli(
    everything: list[tuple[str, list[dict[str, Any]]]],
) -> None:
    lines = 0
    for overlay, workload in _workloads(everything):
        objects = _objects_of(everything, overlay)
        for container in workload.containers():
            argv = command_line(container, container_environment(objects, workload, container))
            assert "$(" not in " ".join(argv), f"{workload.name}: an unexpanded reference in {argv}"
            lines += 1
            refusal = _refusal(argv)
            assert refusal is None, (
                f"{overlay}: {workload.kind} {workload.name}: berth refuses {argv}: {refusal}"
            )
    assert lines >= 9


def test_every_probed_server_listens_beyond_loopback(
    everything: list[tuple[str, list[dict[str, Any]]]],
) -> None:
    """The kubelet probes the pod's IP: a berth server bound to its default 127.0.0.1 would never be
    ready. `berth worker --health-port` listens on every address by itself."""
    for overlay, workload in _workloads(everything):
        objects = _objects_of(everything, overlay)
        for container in workload.containers():
            env = container_environment(objects, workload, container)
            argv = command_line(container, env)
            probed = any(f"{kind}Probe" in container for kind in ("startup", "liveness", "readiness"))
            if argv[1] not in ("serve", "demo") or not probed:
                continue
            host = argv[argv.index("--host") + 1] if "--host" in argv else env.get("BERTH_HOST", "127.0.0.1")
            assert host == "0.0.0.0", f"{overlay}: {workload.kind} {workload.name} listens on {host}"


def test_the_cli_check_refuses_a_wrong_line() -> None:
    with pytest.raises(click.UsageError):
        parse_berth_command(["berth", "serve", "--role", "dta"])
    with pytest.raises(click.UsageError):
        parse_berth_command(["berth", "worker", "--health-prot", "8080"])
    with pytest.raises(click.UsageError):
        parse_berth_command(["berth", "serve", "--port", "http"])


def test_every_setting_is_one_berth_has(everything: list[tuple[str, list[dict[str, Any]]]]) -> None:
    known = {f"BERTH_{name.upper()}" for name in Settings.model_fields}
    for overlay, workload in _workloads(everything):
        objects = _objects_of(everything, overlay)
        for container in workload.containers():
            env = container_environment(objects, workload, container)
            names = {name for name in env if name.startswith("BERTH_")}
            unknown = names - known
            assert not unknown, f"{overlay}: {workload.name} sets {sorted(unknown)}, unknown to Settings"
            values = {k[len("BERTH_") :].lower(): v for k, v in env.items() if k in known}
            Settings.model_validate(values)  # each value is one the setting accepts


def test_the_placeholders_are_well_formed(production: list[dict[str, Any]]) -> None:
    api = next(w for w in workloads(production) if w.name == "berth-api")
    env = container_environment(production, api, api.containers()[0])
    url = make_url(env["BERTH_DATABASE_URL"])
    assert url.drivername == "postgresql+psycopg"  # the driver berth installs
    assert url.host is not None
    assert url.host.endswith(".invalid")
    assert env["BERTH_ARTIFACT_URI"].startswith("s3://")
    assert env["BERTH_AUTH"] == "tokens"
    assert env["BERTH_MIGRATE_ON_START"] == "false"


def test_the_roles_and_groups_are_wired_together(production: list[dict[str, Any]]) -> None:
    deployments = {w.name: w for w in workloads(production) if w.kind == "Deployment"}
    services = {o["metadata"]["name"]: o for o in production if o["kind"] == "Service"}
    groups = {}
    for name, workload in deployments.items():
        (container,) = workload.containers()
        argv = command_line(container, container_environment(production, workload, container))
        if "--role" in argv and argv[argv.index("--role") + 1] == "data":
            group = argv[argv.index("--group") + 1]
            assert name == f"berth-data-{group}"
            assert workload.labels["berth.dev/group"] == group
            assert argv[argv.index("--advertise-url") + 1] == f"http://{POD_IP}:{BERTH_PORT}"
            assert argv[argv.index("--grpc-port") + 1] == str(GRPC_PORT)
            service = services[name]
            assert service["spec"]["selector"].items() <= workload.labels.items()
            groups[group] = workload
        if name == "berth-gateway":
            gateway_env = container_environment(production, workload, container)
    assert set(groups) == {"default", "risk"}
    # each group's Service selects its own replicas only
    for group in groups:
        for other, other_workload in groups.items():
            selector = services[f"berth-data-{group}"]["spec"]["selector"]
            assert (selector.items() <= other_workload.labels.items()) == (group == other)
    api = urlsplit(gateway_env["BERTH_API_URL"])
    assert api.hostname in services
    assert api.port in [p["port"] for p in services[api.hostname]["spec"]["ports"]]
    monitor = deployments["berth-monitor"]  # N drainers share one consumer; alerts fire once (CAS)
    assert monitor.obj["spec"]["replicas"] == 2
    assert monitor.obj["spec"]["strategy"]["type"] == "RollingUpdate"


def test_the_migration_job_runs_berth_db_upgrade(production: list[dict[str, Any]]) -> None:
    (job,) = [w for w in workloads(production) if w.kind == "Job"]
    container = job.containers()[0]
    env = container_environment(production, job, container)
    assert command_line(container, env) == ["berth", "db", "upgrade"]
    for workload in workloads(production):
        if workload.kind == "Deployment":  # every other role waits for the Job's migration
            env = container_environment(production, workload, workload.containers()[0])
            assert env["BERTH_MIGRATE_ON_START"] == "false", workload.name


# -- availability and scaling ---------------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and value is None:
            return False
        if operator == "DoesNotExist" and value is not None:
            return False
    return True


def test_every_deployment_has_its_own_disruption_budget(
    everything: list[tuple[str, list[dict[str, Any]]]],
) -> None:
    for overlay, objects in everything:
        budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
        deployments = [w for w in workloads(objects) if w.kind == "Deployment"]
        for workload in deployments:
            covering = [b for b in budgets if _selects(b["spec"]["selector"], workload.labels)]
            assert len(covering) == 1, f"{overlay}: {workload.name} has {len(covering)} budgets"
            others = [
                w.name
                for w in deployments
                if w is not workload and _selects(covering[0]["spec"]["selector"], w.labels)
            ]
            assert not others, f"{overlay}: {workload.name}'s budget also covers {others}"
            spec = covering[0]["spec"]
            scalers = [
                o["spec"]
                for o in objects
                if o["kind"] == "HorizontalPodAutoscaler"
                and o["spec"]["scaleTargetRef"]["name"] == workload.name
            ]
            if scalers:  # the autoscaler owns the count: an apply of `replicas` would reset it
                assert "replicas" not in workload.obj["spec"], f"{overlay}: {workload.name}"
            replicas = scalers[0]["minReplicas"] if scalers else workload.obj["spec"].get("replicas", 1)
            if "minAvailable" in spec:
                assert spec["minAvailable"] < replicas, f"{overlay}: {workload.name} could never be drained"


def test_serving_groups_and_the_gateway_scale_on_cpu(production: list[dict[str, Any]]) -> None:
    deployments = {w.name: w for w in workloads(production) if w.kind == "Deployment"}
    scaled = set()
    for hpa in (o for o in production if o["kind"] == "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        assert target["name"] in deployments
        assert {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
        } in hpa["spec"]["metrics"]
        assert hpa["spec"]["minReplicas"] >= 2  # a replica may go without an outage
        scaled.add(target["name"])
    assert scaled == {"berth-data-default", "berth-data-risk", "berth-gateway"}


def test_the_inflight_component_scales_on_a_metric_berth_exports(executable: str, tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [relative(KUBERNETES / "overlays" / "production", overlay)],
                "components": [relative(KUBERNETES / "components" / "inflight-autoscaling", overlay)],
            }
        )
    )
    objects = render(executable, overlay)
    exported = {metric.name for metric in MetricFamilies().registry.collect()}
    rules = yaml.safe_load(
        (KUBERNETES / "components" / "inflight-autoscaling" / "prometheus-adapter-rules.yaml").read_text()
    )
    (rule,) = rules["rules"]["custom"]
    published = rule["name"]["as"]
    assert published in exported
    assert rule["seriesQuery"].startswith(published + "{")
    for hpa in (o for o in objects if o["kind"] == "HorizontalPodAutoscaler"):
        kubernetes_validate.validate(hpa, KUBERNETES_VERSION, strict=True)
        pods = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
        if hpa["metadata"]["name"].startswith("berth-data-"):
            assert [p["metric"]["name"] for p in pods] == [published]
            assert any(m["type"] == "Resource" for m in hpa["spec"]["metrics"])  # CPU stays
        else:
            assert pods == []  # the gateway has no models in flight: CPU only


def test_a_private_overlay_replaces_the_placeholder_secrets(executable: str, tmp_path: Path) -> None:
    """docs/deploy.md step 3: real values live outside this repository, in an overlay of your own."""
    overlay = tmp_path / "my-berth"
    overlay.mkdir()
    (overlay / "database.env").write_text("url=postgresql+psycopg://berth:s3cret@db.internal:5432/berth\n")
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [relative(KUBERNETES / "overlays" / "production", overlay)],
                "secretGenerator": [
                    {"name": "berth-database", "behavior": "replace", "envs": ["database.env"]}
                ],
            }
        )
    )
    objects = render(executable, overlay)
    api = next(w for w in workloads(objects) if w.name == "berth-api")
    env = container_environment(objects, api, api.containers()[0])
    assert env["BERTH_DATABASE_URL"] == "postgresql+psycopg://berth:s3cret@db.internal:5432/berth"


# -- the network ----------------------------------------------------------------------------------

ANYWHERE: Final = "anywhere"
MONITORING: Final = "namespace monitoring"


def _sources(objects: list[dict[str, Any]], labels: dict[str, str], port: int) -> set[str]:
    """Who may open `port` on a pod with `labels`: `ANYWHERE`, `MONITORING` or the component of a
    berth pod in the namespace (the NetworkPolicy rules that select the pod, added up)."""
    policies = [
        o for o in objects if o["kind"] == "NetworkPolicy" and _selects(o["spec"]["podSelector"], labels)
    ]
    assert any(not p["spec"].get("ingress") for p in policies if "Ingress" in p["spec"]["policyTypes"]), (
        "no default deny covers the pod"
    )
    pods = {w.labels.get("app.kubernetes.io/component", "") for w in workloads(objects)}
    allowed: set[str] = set()
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            if not rule.get("from"):
                allowed.add(ANYWHERE)
            for peer in rule.get("from", []):
                if "namespaceSelector" in peer:
                    names = peer["namespaceSelector"].get("matchLabels", {})
                    assert names == {"kubernetes.io/metadata.name": "monitoring"}, peer
                    allowed.add(MONITORING)
                elif "podSelector" in peer:
                    allowed |= {
                        c
                        for c in pods
                        if _selects(
                            peer["podSelector"],
                            {"app.kubernetes.io/name": "berth", "app.kubernetes.io/component": c},
                        )
                    }
                else:
                    allowed.add(ANYWHERE)
    return {ANYWHERE} if ANYWHERE in allowed else allowed


def test_ingress_reaches_only_the_callers_doors(everything: list[tuple[str, list[dict[str, Any]]]]) -> None:
    expected = {
        # component: {port: who may connect}
        "gateway": {BERTH_PORT: {ANYWHERE}, GRPC_PORT: {ANYWHERE}},
        "api": {BERTH_PORT: {ANYWHERE}},
        "data": {BERTH_PORT: {"gateway", MONITORING}, GRPC_PORT: {"gateway"}},
        "worker": {BERTH_PORT: {MONITORING}},
        "monitor": {BERTH_PORT: {MONITORING}},
        "migrate": {BERTH_PORT: {MONITORING}},
        "demo": {BERTH_PORT: {MONITORING}},  # reached through `kubectl port-forward` only
    }
    for overlay, objects in everything:
        if overlay == "kserve":
            continue  # KServe's namespace, KServe's (and its mesh's) network rules
        for workload in workloads(objects):
            component = workload.labels["app.kubernetes.io/component"]
            for port, sources in expected[component].items():
                assert _sources(objects, workload.labels, port) == sources, (
                    f"{overlay}: {workload.name}:{port}"
                )


# -- the documentation ----------------------------------------------------------------------------


def test_the_guide_names_what_the_manifests_need(production: list[dict[str, Any]]) -> None:
    guide = (REPO / "docs" / "deploy.md").read_text()
    for secret in ("berth-database", "berth-s3", "berth-tokens"):
        assert secret in guide
    for path in (
        "deploy/kubernetes/overlays/production",
        "deploy/kubernetes/overlays/embedded-demo",
        "deploy/kubernetes/kserve",
        "deploy/kubernetes/components/inflight-autoscaling",
    ):
        assert path in guide
        assert (REPO / path).is_dir()
    for name in ("berth-db-upgrade", "berth-gateway", "berth_inflight_requests"):
        assert name in guide


def _guide_blocks(language: str) -> list[str]:
    guide = (REPO / "docs" / "deploy.md").read_text()
    return re.findall(rf"^```{language}\n(.*?)^```", guide, flags=re.MULTILINE | re.DOTALL)


def test_the_guides_own_overlay_renders_with_its_values(executable: str, tmp_path: Path) -> None:
    """docs/deploy.md step 5, as written: an overlay next to a checkout, real values from .env files."""
    (block,) = [b for b in _guide_blocks("yaml") if b.startswith("# my-berth/kustomization.yaml")]
    config = tmp_path / "config"
    mine = config / "my-berth"
    mine.mkdir(parents=True)
    (config / "berth").symlink_to(REPO)
    (mine / "kustomization.yaml").write_text(block)
    (mine / "database.env").write_text("url=postgresql+psycopg://berth:pw@db.internal:5432/berth\n")
    (mine / "s3.env").write_text("AWS_ACCESS_KEY_ID=AKIAEXAMPLE\nAWS_SECRET_ACCESS_KEY=example\n")
    (mine / "tokens.env").write_text("admin=none\n")
    objects = render(executable, mine)
    for workload in workloads(objects):
        env = container_environment(objects, workload, workload.containers()[0])
        assert env["BERTH_DATABASE_URL"] == "postgresql+psycopg://berth:pw@db.internal:5432/berth"
        assert env["BERTH_ARTIFACT_URI"] == "s3://berth-artifacts/prod"
        assert workload.containers()[0]["image"] == "registry.internal/platform/berth:0.1.0"
    secrets = {o["metadata"]["name"].rsplit("-", 1)[0]: o for o in objects if o["kind"] == "Secret"}
    assert set(secrets) == {"berth-database", "berth-s3", "berth-tokens"}
    assert "REPLACE_ME" not in json.dumps([list(o.get("data", {}).values()) for o in secrets.values()])


def test_the_guides_egress_policy_is_valid() -> None:
    policies = [yaml.safe_load(b) for b in _guide_blocks("yaml") if "kind: NetworkPolicy" in b]
    assert len(policies) == 1
    kubernetes_validate.validate(policies[0], KUBERNETES_VERSION, strict=True)


def test_no_image_is_pulled_by_a_bare_name(everything: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """A bare `berth` would be looked for on Docker Hub: the overlays name a registry and a tag."""
    for overlay, workload in _workloads(everything):
        for container in workload.containers():
            registry, _, tagged = container["image"].rpartition("/")
            assert "." in registry.split("/")[0], f"{overlay}: {workload.name}: {container['image']}"
            assert ":" in tagged, f"{overlay}: {workload.name}: {container['image']} has no tag"


def test_the_guides_berth_commands_parse_with_berths_cli() -> None:
    commands = []
    for block in _guide_blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            start = re.search(r"(?:^|--\s+)(berth .*)", line)  # `berth …`, `kubectl exec … -- berth …`
            if start is not None:
                commands.append(shlex.split(start.group(1), comments=True))
    assert len(commands) >= 5
    for argv in commands:
        assert _refusal(argv) is None, argv
