#!/usr/bin/env bash
# Validates everything under deploy/ and exits non-zero on any problem:
#   - the Dockerfile and its ignore files (stages, non-root user, the three binaries);
#   - compose.yaml (services, images, mounted files, health checks, coordinator↔agent wiring);
#   - the OpenTelemetry collector, Prometheus and Grafana files, and the dashboard;
#   - the TOML configs under deploy/config and inside the Kubernetes ConfigMaps (agreed keys and
#     types, required keys, and every key known to the crates' example configs);
#   - the systemd units (hardening; `systemd-analyze verify` when systemd is installed);
#   - deploy/k8s: base and overlays rendered without kubectl (deploy/tools/kustomize_lite.py),
#     every manifest validated against the Kubernetes schema (kubernetes-validate, strict), and
#     wavegate's rules (probes, resources, securityContext, secret references, one agent per
#     account, region placement). With kubectl installed, its kustomize output must be identical.
#
# Needs python3 (>= 3.11, for tomllib) and network access to PyPI the first time (python3-venv is
# not required: without ensurepip the script bootstraps pip from PyPI).
# The venv is cached (WAVEGATE_CHECK_VENV, default ~/.cache/wavegate-deploy-check) and rebuilt
# when deploy/tools/requirements.txt changes. Quiet on success except one summary line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${WAVEGATE_CHECK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/wavegate-deploy-check}"
requirements="$here/tools/requirements.txt"

python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "deploy/check.sh: python3 >= 3.11 is required (tomllib)" >&2; exit 1; }

stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  rm -rf "$venv"
  # Debian keeps ensurepip in python3-venv; without it, make the venv bare and fetch pip from PyPI.
  if ! { { python3 -m venv "$venv" \
           || { rm -rf "$venv" && python3 -m venv --without-pip "$venv" \
                && "$venv/bin/python" "$here/tools/bootstrap_pip.py"; }; } \
         && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
              --no-input -r "$requirements"; } >"$log" 2>&1; then
    echo "deploy/check.sh: could not create the venv at $venv:" >&2
    cat "$log" >&2
    rm -rf "$venv"
    exit 1
  fi
  echo "$want" >"$stamp"
fi

# -B: leave no __pycache__ in the source tree.
exec "$venv/bin/python" -B "$here/tools/check_deploy.py" --repo "$repo"
