"""Renders deploy/k8s (base and every overlay) with `kubectl kustomize`, validates every manifest
against the Kubernetes OpenAPI schema (kubernetes-validate, strict), and checks wavegate's rules:
hardened pods with native gRPC probes and resources, secrets only by reference, one agent per
exchange account with a journal volume, consistent wiring between the coordinator's config, the
Services and the agents (and the metrics port the scrape annotations name), and the production
overlay's region placement. The configs in ConfigMaps go through the binaries' --check-config."""

import os
import re
import shutil
import subprocess
import tomllib
from urllib.parse import urlparse

import kubernetes_validate
import yaml

from config_checks import check_config, listen_port

# Schemas to validate against: the oldest Kubernetes wavegate supports (unhealthyPodEvictionPolicy
# is GA in 1.31) and a current one.
K8S_VERSIONS = ["1.31", "1.35"]
REGIONS = {"binance": "ap-northeast-1", "bybit": "ap-southeast-1"}
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|DATABASE_URL|CREDENTIAL)", re.I)
WORKLOADS = {"Deployment", "StatefulSet"}


def check_k8s(report, repo):
    root = os.path.join(repo, "deploy", "k8s")
    overlays = os.path.join(root, "overlays")
    targets = {"base": os.path.join(root, "base")}
    for name in sorted(os.listdir(overlays)) if os.path.isdir(overlays) else []:
        targets[f"overlays/{name}"] = os.path.join(overlays, name)
    kubectl = shutil.which("kubectl")
    if not kubectl:
        report.fail("deploy/k8s", "kubectl not found (deploy/check.sh installs it into its venv)")
        return
    for name, path in targets.items():
        where = f"deploy/k8s/{name}"
        run = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True)
        if run.returncode != 0:
            report.fail(where, f"kubectl kustomize failed: {run.stderr.strip()}")
            continue
        resources = [r for r in yaml.safe_load_all(run.stdout) if r]
        report.checked("kustomizations")
        validate_schema(report, where, resources)
        check_rules(report, repo, where, resources)
        check_metrics(report, where, resources)
        if name == "overlays/production":
            check_regions(report, where, resources)


def validate_schema(report, where, resources):
    for r in resources:
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(r, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                report.fail(where, f"{r['kind']}/{r['metadata']['name']} invalid for k8s {version}: {path}: {e.message}")
            except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
                report.fail(where, f"{r['kind']}/{r['metadata']['name']}: {e.message}")
        report.checked("manifests validated")


def by_kind(resources, kind):
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_rules(report, repo, where, resources):
    if by_kind(resources, "Secret"):
        report.fail(where, "ships a Secret: secrets are created by the operator, only referenced here")
    workloads = [r for r in resources if r["kind"] in WORKLOADS]
    configs = {}
    for cm in by_kind(resources, "ConfigMap").values():
        for key, text in (cm.get("data") or {}).items():
            if key.endswith(".toml"):
                kind = "coordinator" if key.startswith("coordinator") else "agent"
                rel = f"{where} ConfigMap/{cm['metadata']['name']} {key}"
                configs[cm["metadata"]["name"]] = check_config(report, repo, rel, text, kind)
    for w in workloads:
        check_workload(report, where, w, configs)
    pod_labels = [w["spec"]["template"]["metadata"].get("labels", {}) for w in workloads]
    for kind in ("Service", "PodDisruptionBudget"):
        for name, r in by_kind(resources, kind).items():
            sel = r["spec"].get("selector") or {}
            sel = sel.get("matchLabels", sel) if kind == "PodDisruptionBudget" else sel
            if not any(selects(sel, labels) for labels in pod_labels):
                report.fail(where, f"{kind}/{name} selects no pod")
    for name in ("wavegate-coordinator",):
        if name not in by_kind(resources, "PodDisruptionBudget"):
            report.fail(where, f"no PodDisruptionBudget for {name}")
    check_wiring(report, where, resources, configs)


def check_workload(report, where, w, configs):
    name = f"{w['kind']}/{w['metadata']['name']}"
    pod = w["spec"]["template"]["spec"]
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True or (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        report.fail(where, f"{name}: pod must set runAsNonRoot and seccompProfile RuntimeDefault")
    for c in pod.get("containers", []):
        cname = f"{name} container {c['name']}"
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set((res.get(part) or {}).keys()):
                report.fail(where, f"{cname}: resources.{part} needs cpu and memory")
        grpc_ports = [p["containerPort"] for p in c.get("ports", []) if p.get("name") == "grpc"]
        for probe in ("readinessProbe", "livenessProbe"):
            port = ((c.get(probe) or {}).get("grpc") or {}).get("port")
            if port is None or port not in grpc_ports:
                report.fail(where, f"{cname}: {probe} must be a native grpc probe on the grpc port")
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False \
                or "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            report.fail(where, f"{cname}: needs readOnlyRootFilesystem, no privilege escalation, drop ALL")
        for env in c.get("env", []):
            if SECRET_NAME.search(env["name"]) and "secretKeyRef" not in (env.get("valueFrom") or {}):
                report.fail(where, f"{cname}: env {env['name']} must come from a secretKeyRef")
        for cm_name, doc in configs_of(pod, configs):
            port = listen_port(doc)
            if port is not None and port not in grpc_ports:
                report.fail(where, f"{cname}: ConfigMap/{cm_name} listens on {port}, the grpc port is {grpc_ports}")
    if w["metadata"]["name"].startswith("wavegate-agent"):
        if w["kind"] != "StatefulSet" or w["spec"].get("replicas") != 1:
            report.fail(where, f"{name}: an agent must be a StatefulSet with replicas 1 (one per account)")
        if not w["spec"].get("volumeClaimTemplates"):
            report.fail(where, f"{name}: the agent's journal needs a volumeClaimTemplate")
        for cm_name, doc in configs_of(pod, configs):
            journal_dir = os.path.dirname(doc.get("journal", ""))
            mounts = [m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])
                      if m["name"] in {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}]
            if journal_dir not in mounts:
                report.fail(where, f"{name}: journal {doc.get('journal')!r} is not on the persistent volume {mounts}")
    report.checked("workloads")


def configs_of(pod, configs):
    for v in pod.get("volumes", []):
        cm = (v.get("configMap") or {}).get("name")
        if cm in configs and configs[cm]:
            yield cm, configs[cm]


def check_wiring(report, where, resources, configs):
    """Each [[exchanges]].agent URL names a Service port that reaches the agent of that exchange."""
    services = by_kind(resources, "Service")
    workloads = [r for r in resources if r["kind"] in WORKLOADS]
    for cm_name, doc in configs.items():
        for ex in (doc or {}).get("exchanges", []):
            url = urlparse(ex.get("agent", ""))
            host = (url.hostname or "").split(".")[0]
            svc = services.get(host)
            label = f"ConfigMap/{cm_name} exchange {ex.get('id')}"
            if not svc or url.port not in [p["port"] for p in svc["spec"].get("ports", [])]:
                report.fail(where, f"{label}: agent {ex.get('agent')} is no Service port")
                continue
            pods = [w for w in workloads if selects(svc["spec"].get("selector"), w["spec"]["template"]["metadata"].get("labels", {}))]
            agents = [d for w in pods for _, d in configs_of(w["spec"]["template"]["spec"], configs)]
            if not any(a.get("exchange_id") == ex.get("id") and listen_port(a) == url.port for a in agents):
                report.fail(where, f"{label}: Service/{host} does not reach an agent of exchange {ex.get('id')} on {url.port}")
            report.checked("agent links")


def check_regions(report, where, resources):
    configs = {}
    for cm in by_kind(resources, "ConfigMap").values():
        if "agent.toml" in (cm.get("data") or {}):
            import tomllib
            configs[cm["metadata"]["name"]] = tomllib.loads(cm["data"]["agent.toml"])
    for w in resources:
        if w["kind"] not in WORKLOADS:
            continue
        pod = w["spec"]["template"]["spec"]
        terms = (((pod.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
        regions = {v for t in terms for e in t.get("matchExpressions", [])
                   if e.get("key") == "topology.kubernetes.io/region" and e.get("operator") == "In"
                   for v in e.get("values", [])}
        name = w["metadata"]["name"]
        if not name.startswith("wavegate-agent"):
            continue
        agent = next((configs[cm] for cm, _ in configs_of(pod, configs)), {})
        expected = REGIONS.get(agent.get("exchange_name"), agent.get("region"))
        if regions != {expected} or agent.get("region") != expected:
            report.fail(where, f"StatefulSet/{name}: must require region {expected} "
                               f"(affinity {sorted(regions)}, config region {agent.get('region')!r})")
        report.checked("region placements")


def check_metrics(report, where, resources):
    """A pod whose template asks to be scraped (prometheus.io/scrape) serves /metrics on the
    annotated port: its config's metrics_listen has that port, and the container exposes it."""
    workloads = [r for r in resources if r["kind"] in WORKLOADS]
    configs = {}
    for cm in by_kind(resources, "ConfigMap").values():
        for key, text in (cm.get("data") or {}).items():
            if key.endswith(".toml"):
                configs[cm["metadata"]["name"]] = tomllib.loads(text)
    for w in workloads:
        meta = w["spec"]["template"]["metadata"]
        notes = meta.get("annotations") or {}
        if notes.get("prometheus.io/scrape") != "true":
            continue
        name = f"{w['kind']}/{w['metadata']['name']}"
        port = int(notes.get("prometheus.io/port", "0"))
        pod = w["spec"]["template"]["spec"]
        docs = [d for _, d in configs_of(pod, configs)]
        # Agents serve metrics on 0.0.0.0:9101 unless metrics_listen says otherwise ("off": none).
        served = [listen_port(d, "metrics_listen") if "metrics_listen" in d
                  else (9101 if "exchange_id" in d else None) for d in docs]
        if port not in served:
            report.fail(where, f"{name}: scraped on port {port} but its config serves metrics on {served}")
        exposed = [p.get("containerPort") for c in pod.get("containers", []) for p in c.get("ports", [])]
        if port not in exposed:
            report.fail(where, f"{name}: scraped on port {port}, which no container exposes")
        report.checked("metrics endpoints")
