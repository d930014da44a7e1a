"""Checks deploy/compose.yaml: valid against the Compose Specification's JSON schema
(check-jsonschema's vendored compose-spec), the services exist with images, every mounted file
exists, every published port is bound to 127.0.0.1 (the public API has no token by default and
Jaeger none at all), health checks and dependencies are sound, and the coordinator's agent
addresses, the agents' configs and the collector's scrape targets agree with each other.
"""

import os
import shutil
import subprocess
from urllib.parse import urlparse

import yaml

from config_checks import check_config, listen_port

REQUIRED_SERVICES = {"postgres", "coordinator", "agent-binance", "agent-bybit", "otel-collector", "jaeger"}
HEALTHCHECKED = {"postgres", "coordinator", "agent-binance", "agent-bybit"}
WHERE = "deploy/compose.yaml"


def check_compose(report, repo):
    """Checks compose.yaml; returns {service: parsed wavegate config} for later cross-checks."""
    deploy = os.path.join(repo, "deploy")
    try:
        with open(os.path.join(deploy, "compose.yaml"), encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        report.fail(WHERE, f"does not parse: {e}")
        return {}
    check_schema(report, os.path.join(deploy, "compose.yaml"))
    services = doc.get("services") or {}
    for name in sorted(REQUIRED_SERVICES - set(services)):
        report.fail(WHERE, f"service {name!r} is missing")
    volumes = set((doc.get("volumes") or {}).keys())
    configs = {}
    for name, svc in services.items():
        check_service(report, deploy, repo, name, svc, services, volumes, configs)
        report.checked("compose services")
    check_agents_wiring(report, services, configs)
    return configs


def check_schema(report, path):
    tool = shutil.which("check-jsonschema")
    if not tool:
        report.fail(WHERE, "check-jsonschema not found (deploy/check.sh installs it into its venv)")
        return
    run = subprocess.run([tool, "--builtin-schema", "vendor.compose-spec", path],
                         capture_output=True, text=True)
    if run.returncode != 0:
        report.fail(WHERE, f"not valid against the compose spec: {(run.stdout + run.stderr).strip()}")
    report.checked("compose spec validations")


def check_ports(report, where, svc):
    """Published ports listen on loopback only: `127.0.0.1:HOST:CONTAINER`."""
    for p in svc.get("ports") or []:
        host_ip = p.get("host_ip") if isinstance(p, dict) else (str(p).split(":")[0] if str(p).count(":") == 2 else None)
        if host_ip != "127.0.0.1":
            report.fail(where, f"port {p!r} is published on every interface: bind it to 127.0.0.1")
        report.checked("published ports")


def check_service(report, deploy, repo, name, svc, services, volumes, configs):
    where = f"{WHERE} services.{name}"
    check_ports(report, where, svc)
    if not svc.get("image"):
        report.fail(where, "no image")
    build = svc.get("build")
    if build:
        ctx = os.path.normpath(os.path.join(deploy, build.get("context", ".")))
        dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
        if not os.path.isfile(dockerfile):
            report.fail(where, f"build dockerfile {dockerfile} does not exist")
    deps = svc.get("depends_on") or []
    for dep in deps:
        if dep not in services:
            report.fail(where, f"depends_on unknown service {dep!r}")
        elif isinstance(deps, dict) and deps[dep].get("condition") == "service_healthy" \
                and "healthcheck" not in services[dep]:
            report.fail(where, f"waits for {dep!r} to be healthy but {dep!r} has no healthcheck")
    if name in HEALTHCHECKED and not (svc.get("healthcheck") or {}).get("test"):
        report.fail(where, "no healthcheck")
    for vol in svc.get("volumes") or []:
        source, _, rest = (vol if isinstance(vol, str) else f"{vol.get('source')}:{vol.get('target')}").partition(":")
        target = rest.split(":", 1)[0]
        if source.startswith((".", "/")):
            path = os.path.normpath(os.path.join(deploy, source))
            if not os.path.exists(path):
                report.fail(where, f"mounted {source} does not exist")
                continue
            report.checked("mounted files")
            if path.endswith(".toml") and os.path.isfile(path):
                kind = "coordinator" if "coordinator" in os.path.basename(path) else "agent"
                with open(path, encoding="utf-8") as f:
                    rel = os.path.relpath(path, repo)
                    configs[name] = (kind, check_config(report, repo, rel, f.read(), kind), target)
        elif source not in volumes:
            report.fail(where, f"named volume {source!r} is not declared under volumes:")
    command = svc.get("command") or []
    for kind, parsed, target in [configs[name]] if name in configs else []:
        if "--config" in command and command[command.index("--config") + 1] != target:
            report.fail(where, f"--config {command[command.index('--config') + 1]} is not the mounted {target}")
        if parsed and kind == "coordinator" and "database_url" not in parsed \
                and "WAVEGATE_DATABASE_URL" not in (svc.get("environment") or {}):
            report.fail(where, "no database_url in the config and no WAVEGATE_DATABASE_URL")


def check_agents_wiring(report, services, configs):
    """The coordinator's [[exchanges]].agent URLs point at agent services whose config serves that
    exchange on that port, and each agent is health-checked on its own port."""
    coordinator = configs.get("coordinator", (None, None, None))[1]
    if not coordinator:
        return
    for ex in coordinator.get("exchanges", []):
        url = urlparse(ex.get("agent", ""))
        where = f"{WHERE} coordinator [[exchanges]] id {ex.get('id')}"
        if url.hostname not in services:
            report.fail(where, f"agent host {url.hostname!r} is not a compose service")
            continue
        agent = configs.get(url.hostname, (None, None, None))[1]
        if not agent:
            report.fail(where, f"service {url.hostname!r} mounts no agent config")
            continue
        if agent.get("exchange_id") != ex.get("id") or agent.get("exchange_name") != ex.get("name"):
            report.fail(where, f"{url.hostname} serves exchange {agent.get('exchange_id')} "
                               f"{agent.get('exchange_name')!r}, not {ex.get('id')} {ex.get('name')!r}")
        if listen_port(agent) != url.port:
            report.fail(where, f"agent URL port {url.port} but {url.hostname} listens on {listen_port(agent)}")
        if agent.get("region") != ex.get("region"):
            report.fail(where, f"region {ex.get('region')!r} but the agent says {agent.get('region')!r}")
        test = " ".join(map(str, services[url.hostname].get("healthcheck", {}).get("test", [])))
        if f"/{listen_port(agent)}" not in test and f":{listen_port(agent)}" not in test:
            report.fail(f"{WHERE} services.{url.hostname}", f"healthcheck does not probe port {listen_port(agent)}")
        report.checked("agent links")
