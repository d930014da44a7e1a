"""Checks the Dockerfile and its ignore files, the OpenTelemetry collector config, the Prometheus
and Grafana provisioning files, the Grafana dashboard and the systemd units."""

import json
import os
import re
import shutil
import subprocess
import tomllib

import yaml

BINARIES = {"wavegate-coordinator": "coordinator", "wavegate-agent": "agent", "wavegate": "cli"}
METRICS = [
    "wavegate_waves_total", "wavegate_wave_duration_seconds", "wavegate_exchange_executed_total",
    "wavegate_exchange_target_reached_total", "wavegate_topups_total",
    "wavegate_validation_verdicts_total", "wavegate_order_latency_seconds",
    "wavegate_agent_connected", "wavegate_ingest_signals_total",
]
# Paths the build needs; an ignore rule must never drop them.
BUILD_INPUTS = ["Cargo.toml", "Cargo.lock", "proto", "common", "coordinator", "agent", "cli", "tests", "examples"]


def read(repo, rel):
    with open(os.path.join(repo, rel), encoding="utf-8") as f:
        return f.read()


def check_docker(report, repo):
    where = "deploy/docker/Dockerfile"
    text = read(repo, where)
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.M | re.I)
    if len(froms) < 2 or not froms[0][0].startswith("rust:1") or not froms[0][1]:
        report.fail(where, "the first stage must be a named rust:1 builder")
    if froms and froms[-1][0] != "debian:bookworm-slim":
        report.fail(where, "the runtime stage must be debian:bookworm-slim")
    if froms and "bookworm" not in froms[0][0]:
        report.fail(where, "the builder must be bookworm-based like the runtime (glibc)")
    if not re.search(r"cargo build --release --locked", text):
        report.fail(where, "no `cargo build --release --locked`")
    for binary, crate in BINARIES.items():
        cargo = tomllib.loads(read(repo, f"{crate}/Cargo.toml"))
        bins = [b.get("name") for b in cargo.get("bin", [])]
        if binary not in bins:
            report.fail(where, f"{crate}/Cargo.toml has no [[bin]] {binary!r}")
        if f"-p {cargo['package']['name']}" not in text:
            report.fail(where, f"does not build package {cargo['package']['name']}")
        if f"target/release/{binary}" not in text:
            report.fail(where, f"does not copy {binary} out of the builder")
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    if not users or users[-1].split(":")[0] in ("0", "root"):
        report.fail(where, "the runtime must run as a non-root USER")
    if "ca-certificates" not in text:
        report.fail(where, "the runtime lacks ca-certificates")
    ignore = read(repo, "deploy/docker/.dockerignore")
    if ignore != read(repo, "deploy/docker/Dockerfile.dockerignore"):
        report.fail("deploy/docker/Dockerfile.dockerignore", "differs from deploy/docker/.dockerignore")
    rules = [line.strip().lstrip("/") for line in ignore.splitlines() if line.strip() and not line.startswith("#")]
    for needed in BUILD_INPUTS:
        if needed in rules or f"{needed}/" in rules:
            report.fail("deploy/docker/.dockerignore", f"ignores {needed}, which the build needs")
    report.checked("Dockerfiles")


def load_yaml(report, repo, rel):
    try:
        with open(os.path.join(repo, rel), encoding="utf-8") as f:
            return yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        report.fail(rel, f"does not parse: {e}")
        return None


def check_collector(report, repo, compose_services):
    rel = "deploy/otel/collector.yaml"
    doc = load_yaml(report, repo, rel)
    if not doc:
        return
    defined = {section: set((doc.get(section) or {}).keys())
               for section in ("receivers", "processors", "exporters", "extensions")}
    grpc = (((doc.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}).get("grpc") or {}
    if not str(grpc.get("endpoint", "")).endswith(":4317"):
        report.fail(rel, "the OTLP receiver must listen for gRPC on :4317")
    jaeger = [e for name, e in (doc.get("exporters") or {}).items() if name.split("/")[0] == "otlp"]
    if not any(str((e or {}).get("endpoint", "")).startswith("jaeger:") for e in jaeger):
        report.fail(rel, "no otlp exporter to jaeger")
    scrape = (((doc.get("receivers") or {}).get("prometheus") or {}).get("config") or {}).get("scrape_configs") or []
    targets = [t for job in scrape for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
    for service in ("coordinator", "agent-binance", "agent-bybit"):
        if not any(t.split(":")[0] == service for t in targets):
            report.fail(rel, f"the prometheus receiver does not scrape {service}")
    for t in targets:
        host, _, port = t.partition(":")
        if host not in compose_services:
            report.fail(rel, f"scrape target {t} is not a compose service")
        elif port != ("9100" if host == "coordinator" else "9101"):
            report.fail(rel, f"scrape target {t}: wavegate serves /metrics on 9100 (coordinator) / 9101 (agents)")
    pipelines = ((doc.get("service") or {}).get("pipelines")) or {}
    for name in ("traces", "metrics"):
        if name not in pipelines:
            report.fail(rel, f"no {name} pipeline")
    for name, p in pipelines.items():
        if "batch" not in (p.get("processors") or []):
            report.fail(rel, f"pipeline {name} has no batch processor")
        for section in ("receivers", "processors", "exporters"):
            for comp in p.get(section) or []:
                if comp not in defined[section]:
                    report.fail(rel, f"pipeline {name} uses undefined {section[:-1]} {comp!r}")
    report.checked("collector configs")


def check_grafana(report, repo):
    rel = "deploy/grafana/wavegate-dashboard.json"
    try:
        dash = json.loads(read(repo, rel))
    except (OSError, json.JSONDecodeError) as e:
        report.fail(rel, f"does not parse: {e}")
        return
    if not dash.get("uid") or not dash.get("title"):
        report.fail(rel, "needs uid and title")
    panels = [p for p in dash.get("panels", []) if p.get("type") != "row"]
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        report.fail(rel, "panel ids are not unique")
    exprs = " ".join(t.get("expr", "") for p in panels for t in p.get("targets", []))
    for metric in METRICS:
        if metric not in exprs:
            report.fail(rel, f"no panel shows {metric}")
    for p in panels:
        if not p.get("targets") or not p.get("datasource"):
            report.fail(rel, f"panel {p.get('title')!r} has no query or datasource")
    for prov in ("deploy/grafana/provisioning/datasources/prometheus.yaml",
                 "deploy/grafana/provisioning/dashboards/wavegate.yaml", "deploy/prometheus/prometheus.yml"):
        if load_yaml(report, repo, prov) is None:
            report.fail(prov, "is empty")
    report.checked("dashboards")


def parse_unit(text):
    """{section: {key: [values]}} of a systemd unit (keys may repeat)."""
    sections, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line and current is not None:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


REQUIRED_SERVICE = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
    "DynamicUser": "yes", "CapabilityBoundingSet": "",
}


def check_systemd(report, repo):
    units = {
        "deploy/systemd/wavegate-coordinator.service": ("wavegate-coordinator", "/etc/wavegate/coordinator.toml"),
        "deploy/systemd/wavegate-agent@.service": ("wavegate-agent", "/etc/wavegate/agent-%i.toml"),
    }
    for rel, (binary, config) in units.items():
        unit = parse_unit(read(repo, rel))
        svc = unit.get("Service", {})
        for section in ("Unit", "Service", "Install"):
            if section not in unit:
                report.fail(rel, f"no [{section}] section")
        exec_start = " ".join(svc.get("ExecStart", []))
        if not re.search(rf"/{binary}\s", exec_start + " ") or f"--config {config}" not in exec_start:
            report.fail(rel, f"ExecStart must run {binary} --config {config}")
        for key, value in REQUIRED_SERVICE.items():
            if value not in svc.get(key, []):
                report.fail(rel, f"{key}={value} is missing")
        for key in ("StateDirectory", "EnvironmentFile"):
            if not svc.get(key):
                report.fail(rel, f"no {key}=")
        report.checked("systemd units")
    verify_units(report, repo, units)


def verify_units(report, repo, units):
    """systemd-analyze verify, when systemd is installed; missing binaries are expected here."""
    tool = shutil.which("systemd-analyze")
    if not tool:
        return
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for rel in units:
            name = os.path.basename(rel).replace("@.service", "@binance.service")
            shutil.copy(os.path.join(repo, rel), os.path.join(tmp, name))
            paths.append(os.path.join(tmp, name))
        run = subprocess.run([tool, "verify", "--man=no", *paths], capture_output=True, text=True)
        for line in (run.stdout + run.stderr).splitlines():
            if line.strip() and not re.search(r"Command /usr/local/bin/wavegate\S* is not executable", line):
                report.fail("deploy/systemd", f"systemd-analyze verify: {line.strip()}")


def check_prometheus(report, repo):
    """promtool: the Prometheus config and the alert rules are valid, and the rules' unit tests
    (deploy/prometheus/alerts_test.yml) pass: each alert fires on the series it should."""
    tool = shutil.which("promtool")
    where = "deploy/prometheus"
    if not tool:
        report.fail(where, "promtool not found (Debian package prometheus; .ci/run installs it)")
        return
    base = os.path.join(repo, "deploy", "prometheus")
    for args in (["check", "config", "--syntax-only", "prometheus.yml"],
                 ["check", "rules", "alerts.yml"],
                 ["test", "rules", "alerts_test.yml"]):
        run = subprocess.run([tool, *args], cwd=base, capture_output=True, text=True)
        if run.returncode != 0:
            report.fail(where, f"promtool {' '.join(args)}: {(run.stdout + run.stderr).strip()}")
        report.checked("promtool checks")
