"""Checks wavegate TOML configs with the binaries' own parser: each config is handed to
`wavegate-coordinator --check-config` or `wavegate-agent --check-config` (the binaries in
WAVEGATE_BIN_DIR, built by deploy/check.sh), so deploy/ is judged by exactly what the services
accept at start-up. The parsed document is returned for the wiring checks."""

import os
import subprocess
import tempfile
import tomllib

BINARIES = {"coordinator": "wavegate-coordinator", "agent": "wavegate-agent"}
# Environment the deployments provide beside the file (secrets stay out of the configs); only the
# names matter to the parser, the values are placeholders.
DEPLOY_ENV = {
    "WAVEGATE_DATABASE_URL": "postgres://check@127.0.0.1:5432/check",
}


def parse_toml(report, where, text):
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        report.fail(where, f"TOML does not parse: {e}")
        return None


def run_check_config(kind, text, env=None):
    """(ok, output) of `<binary> --check-config` on `text`."""
    binary = os.path.join(os.environ["WAVEGATE_BIN_DIR"], BINARIES[kind])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{kind}.toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("WAVEGATE_")}
        clean.update({"RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"})
        clean.update(env or {})
        run = subprocess.run([binary, "--check-config", "--config", path], capture_output=True,
                             text=True, env=clean, cwd=tmp, timeout=60)
        return run.returncode == 0, (run.stdout + run.stderr).strip()


def check_config(report, repo, where, text, kind):
    """Checks one config of `kind` ("coordinator" or "agent"); returns the parsed document."""
    doc = parse_toml(report, where, text)
    if doc is None:
        return None
    ok, out = run_check_config(kind, text, DEPLOY_ENV if kind == "coordinator" else None)
    if not ok:
        report.fail(where, f"{BINARIES[kind]} --check-config refuses it: {out}")
    report.checked("configs accepted by the binaries")
    return doc


def listen_port(doc, key="listen"):
    """Port of a config's `listen` (or another HOST:PORT key), or None."""
    value = (doc or {}).get(key, "")
    _, _, port = value.rpartition(":")
    return int(port) if port.isdigit() else None
