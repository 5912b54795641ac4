"""The Kubernetes manifests (deploy/kubernetes/): the base and each overlay, rendered by
``kubectl kustomize`` as an operator renders them, are valid objects of a current Kubernetes
(kubernetes-validate, strict: no unknown field) and carry what issue 16 asks of them, so that none
of it can silently go: non-root, read-only root filesystem, requests and limits sized for the cache
bounds, probes on the service's port, a grace period covering the drain, topology spread, an
autoscaler, a disruption budget and a Service on the pods, secrets only by reference.

The settings in the rendered ConfigMap are read by the real ``Settings``: an unknown name or a bad
value fails here, not in a pod. Debian's kubectl (kustomize v2.0.3, what .ci/run installs) and a
current one must render the files alike: the kustomizations keep to the fields both read.
"""

from __future__ import annotations

import functools
import subprocess
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from pydantic import SecretStr

from graphql_api.config import Settings, parse_cache_url
from graphql_api.settings_doc import env_name
from tests.helpers import installed

KUBERNETES_VERSION = "1.37"  # the schemas the objects are validated against
ROOT = Path(__file__).parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
# Every kustomization: deploy/kubernetes (the base) and each overlay, found so a new one is tested.
KUSTOMIZATIONS = sorted(path.parent for path in MANIFESTS.rglob("kustomization.yaml"))
# Fields both kustomize v2.0.3 (Debian 12's kubectl) and v5 read alike (deploy/kubernetes/
# kustomization.yaml says why each other form is out).
PORTABLE_FIELDS = {"apiVersion", "kind", "resources", "bases", "patchesStrategicMerge", "images"}
SERVICE = "graphql-api"  # the Deployment, its container, the Service, the ConfigMap, the Secret
# A process's resident memory besides its caches, and the most requests in flight add (both
# measured in docs/caching.md, "Sizing the caches": 78 MiB, 29-54 MiB).
BASELINE_BYTES = 78 * 2**20
IN_FLIGHT_BYTES = 54 * 2**20
ENV_NAMES = {env_name(field): field for field in Settings.model_fields}
SECRET_SETTINGS = {
    env_name(field)
    for field, info in Settings.model_fields.items()
    if info.annotation is SecretStr or SecretStr in typing.get_args(info.annotation)
}
Object = dict[str, Any]


def kubectl() -> str:
    return installed("kubectl", "kubernetes-client")


def name_of(kustomization: Path) -> str:
    return str(kustomization.relative_to(ROOT))


@functools.cache
def render(kustomization: Path) -> list[Object]:
    """The objects ``kubectl kustomize`` renders (kustomize v5 warns on stderr that `bases` and
    `patchesStrategicMerge` are deprecated: see PORTABLE_FIELDS)."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(kustomization)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(params=KUSTOMIZATIONS, ids=name_of)
def rendered(request: pytest.FixtureRequest) -> list[Object]:
    return render(request.param)


def the(objects: list[Object], kind: str, name: str) -> Object:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"one {kind} {name} expected, found {len(found)}"
    return found[0]


def kind_of(objects: list[Object], kind: str) -> list[Object]:
    return [o for o in objects if o["kind"] == kind]


def container(deployment: Object) -> Object:
    containers: list[Object] = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == SERVICE)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def environment(objects: list[Object]) -> dict[str, str]:
    """The service's literal environment as Kubernetes builds it: the ConfigMaps of envFrom,
    then the container's own `value`s (which win)."""
    found: dict[str, str] = {}
    for source in container(the(objects, "Deployment", SERVICE)).get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"envFrom {source}: a ConfigMap, or secretKeyRef"
        found.update(the(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
    for variable in container(the(objects, "Deployment", SERVICE)).get("env", []):
        if "value" in variable:
            found[variable["name"]] = variable["value"]
    return found


def settings_of(objects: list[Object]) -> Settings:
    """The settings a pod of the service runs with (every one not set: its default)."""
    values: dict[str, Any] = {
        ENV_NAMES[name]: value for name, value in environment(objects).items() if name in ENV_NAMES
    }
    return Settings(_env_file=None, **values)


def port_number(container: Object, port: int | str) -> int:
    """A probe's or a Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"no container port named {port!r}"
    return int(named[0])


def quantity(value: str | int) -> float:
    """A Kubernetes quantity (cpu or bytes) as a number: 500m, 2, 512Mi, 1G."""
    text = str(value)
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in sorted(suffixes.items(), key=lambda item: -len(item[0])):
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * factor
    return float(text)


def containers_of(objects: list[Object]) -> Iterator[tuple[Object, Object]]:
    for deployment in kind_of(objects, "Deployment"):
        for one in deployment["spec"]["template"]["spec"]["containers"]:
            yield deployment, one


# Kustomize, both versions.


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=name_of)
def test_the_kustomizations_keep_to_what_every_kustomize_reads(kustomization: Path) -> None:
    """Debian's kubectl reads no `labels`, `patches` or directory in `resources`, and hashes a
    generated name otherwise than kustomize v5: keeping to these fields keeps the two renderings
    identical (compared by hand with both kubectl; only one is installed)."""
    fields = yaml.safe_load((kustomization / "kustomization.yaml").read_text(encoding="utf-8"))
    assert set(fields) <= PORTABLE_FIELDS, set(fields) - PORTABLE_FIELDS
    for resource in fields.get("resources", []):
        assert (kustomization / resource).is_file(), f"{resource}: resources must be files"
    for base in fields.get("bases", []):
        assert (kustomization / base / "kustomization.yaml").is_file(), base


def test_the_base_and_the_overlays_are_all_there() -> None:
    assert {name_of(k) for k in KUSTOMIZATIONS} >= {
        "deploy/kubernetes",
        "deploy/kubernetes/overlays/redis",
        "deploy/kubernetes/overlays/managed-redis",
    }


# Every rendering.


def test_every_object_is_valid_for_a_current_kubernetes(rendered: list[Object]) -> None:
    errors = []
    for one in rendered:
        try:
            kubernetes_validate.validate(one, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(map(str, error.path))
            errors.append(f"{one['kind']} {one['metadata']['name']}: {error.message} at {where}")
    assert not errors, "\n".join(errors)


def test_the_service_runs_the_production_profile_from_its_image(rendered: list[Object]) -> None:
    named = {name for name in environment(rendered) if name.startswith("GRAPHQL_API_")}
    assert named <= set(ENV_NAMES), f"not settings: {sorted(named - set(ENV_NAMES))}"
    settings = settings_of(rendered)  # and every value valid
    assert settings.production
    assert not settings.demo  # the demo catalog: only with GRAPHQL_API_DEMO=1
    assert not settings.introspection_enabled
    assert not settings.graphiql_enabled
    image = container(the(rendered, "Deployment", SERVICE))["image"]
    assert image.split(":")[0].split("@")[0] == SERVICE  # the operator sets tag and registry


def test_every_container_runs_unprivileged_on_a_read_only_root(rendered: list[Object]) -> None:
    for deployment, one in containers_of(rendered):
        pod = deployment["spec"]["template"]["spec"]
        name = f"{deployment['metadata']['name']}/{one['name']}"
        pod_context, context = pod.get("securityContext", {}), one.get("securityContext", {})
        merged = {**pod_context, **context}
        assert merged.get("runAsNonRoot") is True, name
        assert merged.get("runAsUser", 0) != 0, name
        assert merged.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert context.get("readOnlyRootFilesystem") is True, name
        assert context.get("allowPrivilegeEscalation") is False, name
        assert context.get("capabilities", {}).get("drop") == ["ALL"], name
        assert pod.get("automountServiceAccountToken") is False, name
        assert not pod.get("hostNetwork"), name
        assert not pod.get("hostPID"), name
        for resources in ("requests", "limits"):
            assert set(one.get("resources", {}).get(resources, {})) >= {"cpu", "memory"}, name


def test_no_service_link_variable_reads_as_a_setting(rendered: list[Object]) -> None:
    """Kubernetes sets Docker-link variables for every Service in the namespace: for the Service
    `graphql-api`, GRAPHQL_API_PORT=tcp://10.0.0.1:80 and more, read as settings (a bad port)."""
    prefixes = {
        s["metadata"]["name"].upper().replace("-", "_") for s in kind_of(rendered, "Service")
    }
    colliding = {p for p in prefixes if any(name.startswith(f"{p}_") for name in ENV_NAMES)}
    pod = the(rendered, "Deployment", SERVICE)["spec"]["template"]["spec"]
    assert not colliding or pod.get("enableServiceLinks") is False, colliding


def test_the_service_can_write_its_temporary_files(rendered: list[Object]) -> None:
    """Read-only root: /tmp is a volume (Python's temporary files, and the prometheus
    multiprocess directory the supervisor makes there with several workers)."""
    deployment = the(rendered, "Deployment", SERVICE)
    mounts = {m["mountPath"]: m["name"] for m in container(deployment).get("volumeMounts", [])}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_the_memory_limit_holds_the_caches_of_every_worker(rendered: list[Object]) -> None:
    settings = settings_of(rendered)
    resources = container(the(rendered, "Deployment", SERVICE))["resources"]
    per_worker = (
        BASELINE_BYTES
        + settings.cache_max_bytes
        + settings.response_cache_max_bytes
        + IN_FLIGHT_BYTES
    )
    workers = settings.workers
    assert quantity(resources["limits"]["memory"]) >= workers * per_worker
    assert quantity(resources["requests"]["memory"]) == quantity(resources["limits"]["memory"])
    assert quantity(resources["requests"]["cpu"]) >= workers  # one core per worker


def test_the_probes_ask_the_service_on_its_port(rendered: list[Object]) -> None:
    settings = settings_of(rendered)
    one = container(the(rendered, "Deployment", SERVICE))
    assert settings.port in {p["containerPort"] for p in one["ports"]}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = one[probe]["httpGet"]
        assert http["path"] == path, probe
        assert port_number(one, http["port"]) == settings.port, probe
    if "startupProbe" in one:
        assert port_number(one, one["startupProbe"]["httpGet"]["port"]) == settings.port


def test_the_grace_period_covers_the_drain(rendered: list[Object]) -> None:
    """SIGTERM: not ready at once, requests served for drain_delay, then in-flight ones given
    shutdown_timeout; the kubelet must not kill the process before (5 s of margin)."""
    settings = settings_of(rendered)
    pod = the(rendered, "Deployment", SERVICE)["spec"]["template"]["spec"]
    drain = settings.drain_delay + settings.shutdown_timeout + 5
    assert pod.get("terminationGracePeriodSeconds", 30) >= drain


def test_the_pods_spread_over_zones_and_nodes(rendered: list[Object]) -> None:
    template = the(rendered, "Deployment", SERVICE)["spec"]["template"]
    constraints = template["spec"].get("topologySpreadConstraints", [])
    spread = {
        c["topologyKey"]
        for c in constraints
        if selects(c["labelSelector"]["matchLabels"], template["metadata"]["labels"])
    }
    assert spread >= {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def test_the_autoscaler_and_the_budget_hold_the_service(rendered: list[Object]) -> None:
    deployment = the(rendered, "Deployment", SERVICE)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] >= 2
    assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
    (autoscaler,) = kind_of(rendered, "HorizontalPodAutoscaler")
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        SERVICE,
    )
    assert autoscaler["spec"]["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in autoscaler["spec"]["metrics"]] == ["cpu"]
    (budget,) = kind_of(rendered, "PodDisruptionBudget")
    assert selects(budget["spec"]["selector"]["matchLabels"], labels)
    others = [d for d in kind_of(rendered, "Deployment") if d is not deployment]
    for other in others:  # e.g. overlays/redis' Redis: its own pods
        other_labels = other["spec"]["template"]["metadata"]["labels"]
        assert not selects(budget["spec"]["selector"]["matchLabels"], other_labels)


def test_every_service_selects_one_deployment_by_a_named_port(rendered: list[Object]) -> None:
    deployments = kind_of(rendered, "Deployment")
    for service in kind_of(rendered, "Service"):
        name = service["metadata"]["name"]
        chosen = [
            d
            for d in deployments
            if selects(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(chosen) == 1, f"Service {name} selects {len(chosen)} Deployments"
        ports = {
            p["name"]
            for one in chosen[0]["spec"]["template"]["spec"]["containers"]
            for p in one.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port.get("name"), f"Service {name}: {port}"
            assert port["targetPort"] in ports, f"Service {name}: {port}"
    assert the(rendered, "Service", SERVICE)["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_secrets_come_by_reference_only(rendered: list[Object]) -> None:
    """No Secret is committed; the service reads the secret settings from the Secret the
    operator creates, and no literal value of one (nor a password in a URL) is rendered."""
    assert not kind_of(rendered, "Secret")
    literal = environment(rendered)
    assert not SECRET_SETTINGS & set(literal), SECRET_SETTINGS & set(literal)
    if "GRAPHQL_API_CACHE_URL" in literal:
        assert parse_cache_url(literal["GRAPHQL_API_CACHE_URL"]).password is None
    one = container(the(rendered, "Deployment", SERVICE))
    referenced = {
        v["name"]: v["valueFrom"]["secretKeyRef"]
        for v in one.get("env", [])
        if "secretKeyRef" in v.get("valueFrom", {})
    }
    assert set(referenced) >= SECRET_SETTINGS
    # The HMAC key every replica must share: a pod without it does not start.
    assert not referenced["GRAPHQL_API_SECRET"].get("optional", False)
    for variable in one.get("env", []):
        assert "value" not in variable or variable["name"] not in SECRET_SETTINGS


# The overlays' Redis.


def test_the_redis_overlay_runs_the_redis_the_cache_url_names() -> None:
    objects = render(MANIFESTS / "overlays" / "redis")
    cache = parse_cache_url(settings_of(objects).cache_url)
    assert cache.scheme == "redis"
    host, port = cache.shown.removeprefix("redis://").split("/")[0].rsplit(":", 1)
    service = the(objects, "Service", host)
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    redis = the(objects, "Deployment", "redis")
    (server,) = redis["spec"]["template"]["spec"]["containers"]
    arguments = " ".join(server.get("command", []) + server.get("args", []))
    assert "--maxmemory-policy allkeys-lru" in arguments
    assert "--maxmemory " in arguments
    assert "--appendonly no" in arguments  # a cache: nothing written to disk
    policy = the(objects, "NetworkPolicy", "redis")
    assert selects(
        policy["spec"]["podSelector"]["matchLabels"],
        redis["spec"]["template"]["metadata"]["labels"],
    )


def test_the_managed_redis_overlay_reads_its_url_from_the_secret() -> None:
    objects = render(MANIFESTS / "overlays" / "managed-redis")
    assert "GRAPHQL_API_CACHE_URL" not in environment(objects)
    (variable,) = [
        v
        for v in container(the(objects, "Deployment", SERVICE))["env"]
        if v["name"] == "GRAPHQL_API_CACHE_URL"
    ]
    assert variable["valueFrom"]["secretKeyRef"]["name"] == SERVICE
