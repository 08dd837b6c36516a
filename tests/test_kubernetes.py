"""The Kubernetes manifests in deploy/kubernetes, rendered (base and production overlay) and
checked offline: every object against the Kubernetes API's own schemas in strict mode (a
misspelt field or a wrong type fails, as the mutations below show), and against the service:
the settings file it mounts loads, its files and ports are the ones mounted and exposed, the
probes ask the health names the server answers, every selector selects the pods, and the
Secrets the pods need are the ones docs/deployment.md tells how to create."""

from __future__ import annotations

import copy
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from index.policy import parse_policy
from service.rpc.server import LIVENESS_SERVICE
from service.settings import load_settings
from tests.kustomize import KustomizeError, Object, render

ROOT = Path(__file__).parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"
BASE, PRODUCTION = KUBERNETES / "base", KUBERNETES / "overlays" / "production"
KUBERNETES_VERSION = "1.32"  # the oldest release the manifests are written for
DEPLOYMENT_DOC = (ROOT / "docs" / "deployment.md").read_text()
KINDS = ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy",
         "PodDisruptionBudget", "Service", "Service"]  # fmt: skip


def validate(obj: Object) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def one(objects: list[Object], kind: str, name: str = "preflight") -> Object:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def container(objects: list[Object]) -> Object:
    (only,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(only)


@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_every_rendered_object_is_valid_kubernetes(directory: Path) -> None:
    objects = render(directory)
    assert sorted(o["kind"] for o in objects) == KINDS
    for obj in objects:
        validate(obj)  # raises on an unknown field, a wrong type or a missing required one


def _spec(d: Object) -> Object:
    spec: Object = d["spec"]["template"]["spec"]
    return spec


def _app(d: Object) -> Object:
    app: Object = _spec(d)["containers"][0]
    return app


def _rename(mapping: Object, old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


MUTATIONS: dict[str, tuple[str, Callable[[Object], None]]] = {
    "misspelt replicas": ("Deployment", lambda d: _rename(d["spec"], "replicas", "replica")),
    "misspelt containerPort": (
        "Deployment", lambda d: _rename(_app(d)["ports"][0], "containerPort", "containerport")),
    "misspelt probe field": (
        "Deployment", lambda d: _rename(_app(d)["readinessProbe"]["grpc"], "port", "prot")),
    "replicas as text": ("Deployment", lambda d: d["spec"].update(replicas="three")),
    "port as text": ("Deployment", lambda d: _app(d)["ports"][0].update(containerPort="50051")),
    "preStop seconds as text": (
        "Deployment", lambda d: _app(d)["lifecycle"]["preStop"]["sleep"].update(seconds="10")),
    "container without a name": ("Deployment", lambda d: _app(d).pop("name")),
    "minReplicas as text": ("HorizontalPodAutoscaler", lambda h: h["spec"].update(minReplicas="4")),
    "misspelt maxUnavailable": (
        "PodDisruptionBudget", lambda p: _rename(p["spec"], "maxUnavailable", "maxUnavialable")),
    "ports as a map": ("Service", lambda s: s["spec"].update(ports={"grpc": 50051})),
}  # fmt: skip


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_misspelt_field_or_a_wrong_type_fails_validation(mutation: str) -> None:
    kind, change = MUTATIONS[mutation]
    obj = copy.deepcopy(one(render(PRODUCTION), kind))
    validate(obj)
    change(obj)
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(obj)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda k: k.replace("resources:", "resource:"), "unknown fields"),
        (lambda k: k + "patchesStrategicMerge: [x.yaml]\n", "unknown fields"),
        (lambda k: k.replace("  - path: hpa-range.yaml", "  - path: missing.yaml"), "no file"),
        (lambda k: k.replace("  - name: preflight\n    count", "  - name: other\n    count"),
         "no Deployment named 'other'"),
    ],
)  # fmt: skip
def test_a_broken_overlay_fails_to_render(
    tmp_path: Path, edit: Callable[[str], str], message: str
) -> None:
    shutil.copytree(KUBERNETES, tmp_path / "kubernetes")
    overlay = tmp_path / "kubernetes" / "overlays" / "production" / "kustomization.yaml"
    overlay.write_text(edit(overlay.read_text()))
    with pytest.raises(KustomizeError, match=message):
        render(overlay.parent)


def test_the_overlay_sizes_the_production_replicas() -> None:
    base, production = render(BASE), render(PRODUCTION)
    assert one(production, "Deployment")["spec"]["replicas"] == 4
    assert one(production, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 4
    assert container(production)["image"] == "registry.example.org/incb/preflight:0.1.0"
    assert container(base)["resources"]["limits"]["memory"] == "1Gi"
    assert container(production)["resources"]["limits"]["memory"] == "2Gi"
    assert {o["metadata"].get("namespace") for o in production} == {"preflight"}


def _settings_file(objects: list[Object], tmp_path: Path) -> tuple[Object, Any]:
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    path = tmp_path / "preflight.toml"
    path.write_text(config["data"]["preflight.toml"])
    secrets = {"PREFLIGHT_AUDIT_KEY": "ab" * 32, "PREFLIGHT_REDIS_PASSWORD": "x",
               "PREFLIGHT_REDIS_SENTINEL_PASSWORD": "y"}  # fmt: skip
    return config, load_settings(path, environ=secrets)  # an unknown setting fails here


def _mounted(objects: list[Object]) -> dict[str, Object]:
    """Each mount path and the volume mounted there."""
    volumes = {v["name"]: v for v in _spec(one(objects, "Deployment"))["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container(objects)["volumeMounts"]}


def _volume_at(objects: list[Object], path: str) -> tuple[str, Object]:
    mounts = _mounted(objects)
    (at,) = [m for m in mounts if Path(path).is_relative_to(m)]
    return str(Path(path).relative_to(at)), mounts[at]


@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_the_pods_serve_the_settings_they_mount(directory: Path, tmp_path: Path) -> None:
    objects = render(directory)
    config, settings = _settings_file(objects, tmp_path)
    assert settings.store_url.startswith("redis+sentinel://") and settings.wait_replicas() == 1
    ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    assert settings.listen == f"0.0.0.0:{ports['grpc']}"
    assert settings.metrics_listen == f"0.0.0.0:{ports['metrics']}"
    assert settings.health_listen == f"0.0.0.0:{ports['health']}"
    assert settings.workers == int(container(objects)["resources"]["requests"]["cpu"])
    policy_key, volume = _volume_at(objects, settings.policy_file)
    assert volume["configMap"]["name"] == config["metadata"]["name"]
    assert config["data"][policy_key] == (ROOT / "policies" / "default.toml").read_text()
    parse_policy(config["data"][policy_key])
    for path in (settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file,
                 settings.callers_file):  # fmt: skip
        assert "secret" in _volume_at(objects, path)[1]
    for folder in (settings.snapshot_dir, settings.metrics_dir):
        assert "emptyDir" in _volume_at(objects, folder + "/x")[1]  # a new pod starts afresh


def test_the_probes_ask_what_the_server_answers(tmp_path: Path) -> None:
    objects = render(PRODUCTION)
    app = container(objects)
    _, settings = _settings_file(objects, tmp_path)
    # The kubelet's gRPC probe speaks no TLS: the probes ask the plaintext health-only port.
    assert settings.tls_cert_file and settings.health_listen
    health_port = int(settings.health_listen.rpartition(":")[2])
    assert health_port != int(settings.listen.rpartition(":")[2])
    assert app["readinessProbe"]["grpc"] == {"port": health_port}  # "": an index with incidents
    for probe in ("livenessProbe", "startupProbe"):
        assert app[probe]["grpc"] == {"port": health_port, "service": LIVENESS_SERVICE}
    drain_s = app["lifecycle"]["preStop"]["sleep"]["seconds"] + settings.shutdown_grace_s
    assert _spec(one(objects, "Deployment"))["terminationGracePeriodSeconds"] > drain_s
    startup = app["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= settings.startup_timeout_s


def test_every_selector_selects_the_pods() -> None:
    objects = render(PRODUCTION)
    deployment = one(objects, "Deployment")
    pods = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [
        deployment["spec"]["selector"]["matchLabels"],
        one(objects, "Service")["spec"]["selector"],
        one(objects, "Service", "preflight-headless")["spec"]["selector"],
        one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        one(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
        *(c["labelSelector"]["matchLabels"]
          for c in _spec(deployment)["topologySpreadConstraints"]),
    ]  # fmt: skip
    for selector in selectors:
        assert selector and selector.items() <= pods.items()
    assert one(objects, "Service", "preflight-headless")["spec"]["clusterIP"] == "None"
    target = one(objects, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    named_ports = {p["name"] for p in container(objects)["ports"]}
    for rule in one(objects, "NetworkPolicy")["spec"]["ingress"]:
        assert {p["port"] for p in rule["ports"]} <= named_ports


def documented_secrets() -> dict[str, set[str]]:
    """The Secrets docs/deployment.md creates (`kubectl create secret generic NAME ...`), with
    their keys."""
    secrets: dict[str, set[str]] = {}
    for line in DEPLOYMENT_DOC.replace("\\\n", " ").splitlines():
        if not line.startswith("kubectl ") or " create secret " not in line:
            continue
        words = shlex.split(line)
        name = words[words.index("generic") + 1]
        secrets[name] = {w.split("=")[1] for w in words if w.startswith("--from-")}
    return secrets


def test_the_secrets_the_pods_need_are_the_ones_the_deployment_doc_creates(
    tmp_path: Path,
) -> None:
    objects = render(PRODUCTION)
    needed: dict[str, set[str]] = {}
    for env in container(objects)["env"]:
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            needed.setdefault(ref["name"], set()).add(ref["key"])
    _, settings = _settings_file(objects, tmp_path)
    for path in (settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file,
                 settings.callers_file):  # fmt: skip
        key, volume = _volume_at(objects, path)
        needed.setdefault(volume["secret"]["secretName"], set()).add(key)
    assert needed == documented_secrets()
