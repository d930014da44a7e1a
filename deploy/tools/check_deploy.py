"""Validates everything under deploy/ (run through deploy/check.sh, which provides the venv).

Prints one summary line and exits 0 when every check passes; otherwise lists each problem as
`path: message` and exits 1.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compose_checks import check_compose  # noqa: E402
from k8s_checks import check_k8s  # noqa: E402
from misc_checks import check_collector, check_docker, check_grafana, check_prometheus, check_systemd  # noqa: E402
from report import Report  # noqa: E402

REQUIRED_FILES = [
    "deploy/docker/Dockerfile", "deploy/docker/.dockerignore", "deploy/docker/Dockerfile.dockerignore",
    "deploy/compose.yaml", "deploy/otel/collector.yaml",
    "deploy/config/coordinator.toml", "deploy/config/agent-binance.toml", "deploy/config/agent-bybit.toml",
    "deploy/k8s/base/kustomization.yaml", "deploy/k8s/overlays/production/kustomization.yaml",
    "deploy/systemd/wavegate-coordinator.service", "deploy/systemd/wavegate-agent@.service",
    "deploy/grafana/wavegate-dashboard.json",
    "deploy/prometheus/prometheus.yml", "deploy/prometheus/alerts.yml", "deploy/prometheus/alerts_test.yml",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", required=True, help="repository root")
    args = parser.parse_args()
    repo = os.path.abspath(args.repo)
    report = Report()
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(repo, f))]
    for f in missing:
        report.fail(f, "missing")
    if not missing:
        check_docker(report, repo)
        check_compose(report, repo)
        compose_services = set(load_services(repo))
        check_collector(report, repo, compose_services)
        check_grafana(report, repo)
        check_prometheus(report, repo)
        check_systemd(report, repo)
        check_k8s(report, repo)
    if report.problems:
        for p in report.problems:
            print(f"FAIL {p}", file=sys.stderr)
        print(f"deploy check: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"deploy check: ok ({report.summary()})")
    return 0


def load_services(repo):
    import yaml
    with open(os.path.join(repo, "deploy", "compose.yaml"), encoding="utf-8") as f:
        return (yaml.safe_load(f) or {}).get("services") or {}


if __name__ == "__main__":
    sys.exit(main())
