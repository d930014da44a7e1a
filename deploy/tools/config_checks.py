"""Checks wavegate TOML configs: they parse, use only the agreed keys with the right types, and
carry the keys a deployment needs. When the crates' example configs exist
(coordinator/coordinator.example.toml, agent/agent.example.toml) every key used by a deployment
config must also appear there, so deploy/ cannot drift from what the binaries accept.
"""

import os
import re
import tomllib

NUM = (int, float)
# Agreed keys (docs/operator-guide.md). "[]" marks an array of tables.
COORDINATOR_KEYS = {
    "listen": str, "database_url": str, "max_batch_signals": int, "metrics_listen": str,
    "node_id": str,
    "waves.interval_secs": int, "waves.grace_secs": int, "waves.quiet_secs": int,
    "waves.max_wave_age_secs": int, "waves.deadline_secs": int, "waves.signal_delay_secs": int,
    "dispatch.buffer_fixed": int, "dispatch.max_topup_rounds": int,
    "dispatch.execution_mode": str, "dispatch.connect_timeout_ms": int, "dispatch.retries": int,
    "dispatch.lease_secs": int, "dispatch.topup_after_failures": bool,
    "exchanges[].id": int, "exchanges[].name": str, "exchanges[].agent": str,
    "exchanges[].default_max_trades": int, "exchanges[].region": str,
    "exchanges[].agent_token_file": str, "max_request_bytes": int,
    "params.max_trades_ceiling": int,
    "auth.tokens_file": str,
    "telemetry.log_format": str, "telemetry.otlp_endpoint": str,
    "tls.cert": str, "tls.key": str, "tls.client_ca": str,
    "agent_tls.ca": str, "agent_tls.cert": str, "agent_tls.key": str, "agent_tls.domain": str,
}
COORDINATOR_REQUIRED = ["listen", "exchanges[].id", "exchanges[].name", "exchanges[].agent"]
AGENT_KEYS = {
    "listen": str, "exchange_id": int, "exchange_name": str, "region": str, "journal": str,
    "execution_mode": str, "order_timeout_ms": int, "stop_loss_percent": NUM, "stop_retries": int,
    "metrics_listen": str,
    "rate_limit.orders_per_second": NUM, "rate_limit.burst": int,
    "adapter.kind": str,
    "adapter.paper.latency_ms": int, "adapter.paper.seed": int, "adapter.paper.fail_rate": NUM,
    "adapter.paper.notional": NUM, "adapter.paper.min_notional": NUM,
    "adapter.paper.open_positions": list, "adapter.paper.invalid_symbols": list,
    "adapter.paper.exec_fail": list, "adapter.paper.stop_fail": list,
    "telemetry.log_format": str, "telemetry.otlp_endpoint": str,
    "tls.cert": str, "tls.key": str, "tls.client_ca": str,
    "auth.token_file": str, "auth.insecure": bool,
    **{f"adapter.{live}.{k}": t for live in ("binance", "bybit") for k, t in {
        "base_url": str, "recv_window_ms": int, "notional": NUM, "request_timeout_ms": int,
        "connect_timeout_ms": int, "rules_refresh_secs": int, "api_key": str,
        "api_secret_file": str,
    }.items()},
}
AGENT_REQUIRED = ["listen", "exchange_id", "exchange_name", "region", "journal", "adapter.kind"]
ENUMS = {
    "dispatch.execution_mode": {"sequential", "windowed"},
    "execution_mode": {"sequential", "windowed"},
    "telemetry.log_format": {"human", "json"},
    "adapter.kind": {"paper", "binance", "bybit"},
}
EXAMPLES = {"coordinator": "coordinator/coordinator.example.toml", "agent": "agent/agent.example.toml"}


def flatten(table, prefix=""):
    """{"waves.quiet_secs": 3, "exchanges[].id": [1, 2], ...} of a parsed TOML document."""
    out = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                for k, v in flatten(item, path + "[].").items():
                    out.setdefault(k, []).append(v)
        else:
            out[path] = value
    return out


def parse_toml(report, where, text):
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        report.fail(where, f"TOML does not parse: {e}")
        return None


def check_host_port(report, where, key, value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        report.fail(where, f"{key}: {value!r} is not HOST:PORT")


def check_config(report, repo, where, text, kind):
    """Checks one config of `kind` ("coordinator" or "agent"); returns the parsed document."""
    doc = parse_toml(report, where, text)
    if doc is None:
        return None
    keys = COORDINATOR_KEYS if kind == "coordinator" else AGENT_KEYS
    required = COORDINATOR_REQUIRED if kind == "coordinator" else AGENT_REQUIRED
    flat = flatten(doc)
    for path, value in flat.items():
        if path not in keys:
            report.fail(where, f"unknown key {path!r} (the {kind} rejects unknown keys)")
            continue
        values = value if "[]" in path else [value]
        for v in values:
            # bool is an int subclass: accept it only where a bool is expected.
            if isinstance(v, bool) != (keys[path] is bool) or not isinstance(v, keys[path]):
                report.fail(where, f"{path}: {v!r} has the wrong type")
            elif path in ENUMS and v not in ENUMS[path]:
                report.fail(where, f"{path}: {v!r} is not one of {sorted(ENUMS[path])}")
            elif path.endswith("listen") and isinstance(v, str):
                check_host_port(report, where, path, v)
    for path in required:
        if path not in flat:
            report.fail(where, f"missing required key {path!r}")
    if kind == "agent" and not is_loopback(doc.get("listen", "")) and not (
        "auth.token_file" in flat or "tls.client_ca" in flat or flat.get("auth.insecure") is True
    ):
        # The agent itself refuses this at start-up (docs/operator-guide.md, "Security").
        report.fail(where, "an agent reachable from other hosts needs auth.token_file or "
                           "tls.client_ca (or auth.insecure = true)")
    if kind == "coordinator":
        ids = flat.get("exchanges[].id", [])
        if len(ids) != len(set(ids)):
            report.fail(where, f"duplicate exchange ids {ids}")
        for n in ("exchanges[].id", "exchanges[].name", "exchanges[].agent"):
            if len(flat.get(n, [])) != len(doc.get("exchanges", [])):
                report.fail(where, f"every [[exchanges]] needs {n.split('.')[-1]}")
    check_against_example(report, repo, where, flat, kind)
    report.checked("TOML configs")
    return doc


def check_against_example(report, repo, where, flat, kind):
    example = os.path.join(repo, EXAMPLES[kind])
    if not os.path.isfile(example):
        return  # the crate has not shipped its example yet; the agreed key list applies alone
    with open(example, encoding="utf-8") as f:
        text = f.read()
    try:
        known = set(flatten(tomllib.loads(text)))
    except tomllib.TOMLDecodeError as e:
        report.fail(EXAMPLES[kind], f"TOML does not parse: {e}")
        return
    try:
        # Optional keys the example documents commented out (`# node_id = "…"`) count as known.
        known |= set(flatten(tomllib.loads(uncomment_settings(text))))
    except tomllib.TOMLDecodeError:
        pass
    for path in flat:
        if path not in known:
            report.fail(where, f"key {path!r} does not appear in {EXAMPLES[kind]}")


def uncomment_settings(text):
    """The example with commented-out settings and tables enabled (prose comments stay)."""
    out = []
    for line in text.splitlines():
        body = line.lstrip("#").strip() if line.startswith("#") else None
        if body and (re.fullmatch(r"\[\[?[\w.]+\]\]?", body) or is_setting(body)):
            out.append(body)
        else:
            out.append(line)
    return "\n".join(out)


def is_setting(line):
    if not re.match(r"[A-Za-z_][\w-]*\s*=", line):
        return False
    try:
        tomllib.loads(line)
        return True
    except tomllib.TOMLDecodeError:
        return False


def is_loopback(listen):
    host = listen.rpartition(":")[0].strip("[]")
    return host == "localhost" or host == "::1" or host.startswith("127.")


def listen_port(doc):
    """Port of a config's `listen`, or None."""
    value = (doc or {}).get("listen", "")
    _, _, port = value.rpartition(":")
    return int(port) if port.isdigit() else None
