//! Configuration loading shared by the binaries: a TOML file, then environment overrides, then
//! serde, through `figment`. Every refusal names its source, the full key path and the reason,
//! e.g. `agent.toml: rate_limit.burst: invalid value unsigned int `0`, expected a nonzero u32`.
//!
//! Environment names are derived from the config type itself (see [`EnvSpec`]), so there is
//! no table of variables to keep in step with the keys: every key `a.b_c` can be set as
//! `PREFIX` + `A_B_C` or `A__B_C`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::value::{Dict, Empty, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::telemetry::LogFormat;

mod tls;

pub use tls::{ServerTls, read_pem, refused};

/// A configuration that could not be loaded or is not usable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{origin}: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value does not fit its key (wrong type, out of range, unknown key).
    #[error("{origin}: {key}: {reason}")]
    Value {
        /// Where the value came from: the file, or `environment variable NAME`.
        origin: String,
        /// Dotted key path, e.g. `adapter.paper.latency_ms`.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("config key `{key}`: {reason}")]
    Invalid {
        /// Dotted key, e.g. `rate_limit.burst` or `exchanges[1].agent`.
        key: String,
        /// Why it was refused.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Invalid`].
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// `Err(Error::Invalid)` naming `key` unless `ok`; the reason is built only then.
pub fn ensure(
    ok: bool,
    key: impl Into<String>,
    reason: impl FnOnce() -> String,
) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(key, reason()))
    }
}

/// The `metrics_listen` value that turns the endpoint off.
pub const METRICS_OFF: &str = "off";

/// Parses a `metrics_listen` value: `HOST:PORT`, or `off` for no endpoint.
pub fn parse_metrics_listen(v: &str) -> Result<Option<SocketAddr>, String> {
    let v = v.trim();
    if v.eq_ignore_ascii_case(METRICS_OFF) {
        return Ok(None);
    }
    v.parse::<SocketAddr>()
        .map(Some)
        .map_err(|e| format!("{v:?}: {e} (expected HOST:PORT or \"{METRICS_OFF}\")"))
}

/// Serde `deserialize_with` for `metrics_listen` (a string; `off` for none).
pub fn metrics_listen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    parse_metrics_listen(&String::deserialize(d)?).map_err(de::Error::custom)
}

/// Refuses a `metrics_listen` that takes the gRPC `listen` port.
pub fn check_metrics_listen(listen: SocketAddr, metrics: Option<SocketAddr>) -> Result<(), Error> {
    let collides = metrics.is_some_and(|m| {
        m.port() != 0
            && m.port() == listen.port()
            && (m.ip() == listen.ip() || m.ip().is_unspecified() || listen.ip().is_unspecified())
    });
    ensure(!collides, "metrics_listen", || {
        format!(
            "{} collides with listen {listen}",
            metrics.map(|m| m.to_string()).unwrap_or_default()
        )
    })
}

/// `[telemetry]` of either binary: log format and OTLP endpoint (service name, region and
/// exchange come from the binary's own keys, so they cannot disagree).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryTable {
    /// `human` (default) or `json` log lines on stderr.
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint, e.g. `http://collector:4317`; when absent,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` applies, and without it nothing is exported.
    pub otlp_endpoint: Option<String>,
}

/// How a binary's keys map to environment variables.
#[derive(Debug, Clone, Copy)]
pub struct EnvSpec {
    /// Prefix of every variable, e.g. `WAVEGATE_AGENT_`.
    pub prefix: &'static str,
    /// Short forms of nested tables: (`adapter.paper`, `PAPER`) makes `PREFIX` + `PAPER_SEED`
    /// set `adapter.paper.seed`.
    pub aliases: &'static [(&'static str, &'static str)],
    /// Tables never read from the environment (another binary owns their names).
    pub exclude: &'static [&'static str],
}

/// Environment lookup, e.g. `|k| std::env::var(k).ok()`.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Loads `T` from the TOML file at `path` (defaults when `None`) and the environment.
pub fn load<T: DeserializeOwned>(
    path: Option<&Path>,
    spec: &EnvSpec,
    env: Lookup<'_>,
) -> Result<T, Error> {
    let mut figment = Figment::new();
    if let Some(p) = path {
        let text = std::fs::read_to_string(p).map_err(|source| Error::Read {
            path: p.to_owned(),
            source,
        })?;
        figment = figment.merge(toml_source(&p.display().to_string(), &text)?);
    }
    for (var, key, value) in env_values::<T>(spec, env) {
        figment = figment.merge(Source {
            name: format!("environment variable {var}"),
            data: figment::util::nest(&key, value)
                .into_dict()
                .unwrap_or_default(),
        });
    }
    extract(&figment)
}

/// Parses TOML text alone (no environment); `origin` names it in errors.
pub fn from_toml<T: DeserializeOwned>(origin: &str, text: &str) -> Result<T, Error> {
    extract(&Figment::from(toml_source(origin, text)?))
}

/// Every environment variable `T` reads under `spec`, with the key it sets.
pub fn env_names<T: DeserializeOwned>(spec: &EnvSpec) -> Vec<(String, String)> {
    leaves::<T>()
        .iter()
        .filter(|l| !spec.exclude.contains(&l.path[0]))
        .flat_map(|l| {
            let key = l.path.join(".");
            names(spec, &l.path)
                .into_iter()
                .map(move |n| (n, key.clone()))
        })
        .collect()
}

/// Serde `deserialize_with` for a number that must not be 0, read as the `NonZero` type `N`
/// (`nonzero::<_, NonZeroU32, _>`), so the error is serde's "expected a nonzero u32".
pub fn nonzero<'de, D, N, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    N: Deserialize<'de> + Into<T>,
{
    N::deserialize(d).map(Into::into)
}

/// [`nonzero`] for an optional number.
pub fn nonzero_opt<'de, D, N, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    N: Deserialize<'de> + Into<T>,
{
    Option::<N>::deserialize(d).map(|v| v.map(Into::into))
}

fn extract<T: DeserializeOwned>(figment: &Figment) -> Result<T, Error> {
    figment.extract().map_err(|e| {
        let e = e
            .into_iter()
            .next()
            .unwrap_or_else(|| "unknown error".into());
        Error::Value {
            origin: e
                .metadata
                .as_ref()
                .map_or_else(|| "config".to_owned(), |m| m.name.to_string()),
            key: e.path.join("."),
            reason: e.kind.to_string(),
        }
    })
}

/// One named layer of values.
struct Source {
    name: String,
    data: Dict,
}

impl Provider for Source {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

fn toml_source(origin: &str, text: &str) -> Result<Source, Error> {
    let syntax = |message: String| Error::Syntax {
        origin: origin.to_owned(),
        message,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| syntax(e.to_string()))?;
    let data = Value::serialize(table)
        .map_err(|e| syntax(e.to_string()))?
        .into_dict()
        .unwrap_or_default();
    Ok(Source {
        name: origin.to_owned(),
        data,
    })
}

/// The set variables, each as (name, key, value typed after its key).
fn env_values<T: DeserializeOwned>(
    spec: &EnvSpec,
    env: Lookup<'_>,
) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for leaf in leaves::<T>() {
        if spec.exclude.contains(&leaf.path[0]) {
            continue;
        }
        let Some((var, raw)) = names(spec, &leaf.path)
            .into_iter()
            .find_map(|n| env(&n).map(|v| (n, v)))
        else {
            continue;
        };
        out.push((var, leaf.path.join("."), leaf.value(raw.trim())));
    }
    out
}

/// The names of key `path`: the short alias form, then `.` as `_`, then `.` as `__`.
fn names(spec: &EnvSpec, path: &[&str]) -> Vec<String> {
    let key = path.join(".");
    let mut out = Vec::new();
    for (table, short) in spec.aliases {
        if let Some(rest) = key.strip_prefix(table).and_then(|r| r.strip_prefix('.')) {
            out.push(format!(
                "{}{short}_{}",
                spec.prefix,
                rest.to_ascii_uppercase()
            ));
        }
    }
    for sep in ["_", "__"] {
        out.push(format!(
            "{}{}",
            spec.prefix,
            path.join(sep).to_ascii_uppercase()
        ));
    }
    out.dedup();
    out
}

/// What a key's type asks of its deserializer, found by [`leaves`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Strings and types read from one (paths, addresses, enums): the text as is.
    Str,
    /// A list: comma-separated, optionally in `[…]`.
    Seq,
    /// A boolean or a number (decimals too).
    Scalar,
}

#[derive(Debug)]
struct Leaf {
    path: Vec<&'static str>,
    kind: Kind,
    optional: bool,
}

impl Leaf {
    /// The variable's text as this key's value; empty unsets an optional key.
    fn value(&self, raw: &str) -> Value {
        if raw.is_empty() && self.optional {
            return Empty::None.into();
        }
        match self.kind {
            Kind::Str => raw.into(),
            Kind::Seq => {
                let items = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
                items
                    .unwrap_or(raw)
                    .split(',')
                    .map(|s| s.trim().trim_matches('"'))
                    .filter(|s| !s.is_empty())
                    .map(Value::from)
                    .collect::<Vec<_>>()
                    .into()
            }
            // Else the text, which serde refuses naming the type it expected.
            Kind::Scalar => None
                .or_else(|| raw.parse::<bool>().ok().map(Value::from))
                .or_else(|| raw.parse::<u64>().ok().map(Value::from))
                .or_else(|| raw.parse::<i64>().ok().map(Value::from))
                .or_else(|| raw.parse::<f64>().ok().map(Value::from))
                .unwrap_or_else(|| raw.into()),
        }
    }
}

/// Every key of `T` that is not a table, found by deserializing `T` from a probe that follows
/// one path of struct fields and reports what the type at its end asks for.
fn leaves<T: DeserializeOwned>() -> Vec<Leaf> {
    let mut out = Vec::new();
    let mut tables = vec![Vec::new()];
    while let Some(path) = tables.pop() {
        match T::deserialize(Probe::new(&path)) {
            Err(Found::Table(fields)) => tables.extend(fields.iter().map(|f| {
                let mut p = path.clone();
                p.push(*f);
                p
            })),
            Err(Found::Leaf(kind, optional)) if !path.is_empty() => out.push(Leaf {
                path,
                kind,
                optional,
            }),
            _ => {}
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Why the probe stopped: the type it reached.
#[derive(Debug)]
enum Found {
    Table(&'static [&'static str]),
    Leaf(Kind, bool),
    Other,
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Found {}

impl de::Error for Found {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Found::Other
    }
}

struct Probe<'p> {
    follow: &'p [&'static str],
    optional: bool,
}

impl<'p> Probe<'p> {
    fn new(follow: &'p [&'static str]) -> Self {
        Probe {
            follow,
            optional: false,
        }
    }

    fn leaf<V>(self, kind: Kind) -> Result<V, Found> {
        Err(Found::Leaf(kind, self.optional))
    }
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Found;

    // Numbers, booleans and decimals.
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        self.leaf(Kind::Scalar)
    }

    fn deserialize_str<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        self.leaf(Kind::Str)
    }

    fn deserialize_string<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        self.leaf(Kind::Str)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Found> {
        self.leaf(Kind::Str)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        self.leaf(Kind::Seq)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Found> {
        v.visit_some(Probe {
            optional: true,
            ..self
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Found> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Found> {
        match self.follow.split_first() {
            None => Err(Found::Table(fields)),
            Some((field, rest)) => v.visit_map(OneField {
                field: Some(field),
                rest,
            }),
        }
    }

    fn is_human_readable(&self) -> bool {
        true
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct map identifier ignored_any
    }
}

/// A map with the one field the probe follows.
struct OneField<'p> {
    field: Option<&'static str>,
    rest: &'p [&'static str],
}

impl<'de> MapAccess<'de> for OneField<'_> {
    type Error = Found;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Found> {
        self.field
            .take()
            .map(|f| seed.deserialize(f.into_deserializer()))
            .transpose()
    }

    fn next_value_seed<S: de::DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Found> {
        seed.deserialize(Probe::new(self.rest))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::num::NonZeroU32;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        #[serde(deserialize_with = "nonzero::<_, NonZeroU32, _>")]
        burst: u32,
        symbols: Vec<String>,
        endpoint: Option<String>,
    }

    impl Default for Inner {
        fn default() -> Self {
            Inner {
                burst: 1,
                symbols: Vec::new(),
                endpoint: Some("x".into()),
            }
        }
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Cfg {
        name: String,
        rate_limit: Inner,
        nested: Option<Inner>,
    }

    const SPEC: EnvSpec = EnvSpec {
        prefix: "T_",
        aliases: &[("nested", "N")],
        exclude: &[],
    };

    fn load_env(vars: &[(&str, &str)]) -> Result<Cfg, Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load(None, &SPEC, &|k| vars.get(k).cloned())
    }

    #[test]
    fn names_follow_the_keys() {
        let names = env_names::<Cfg>(&SPEC);
        for (var, key) in [
            ("T_RATE_LIMIT_BURST", "rate_limit.burst"),
            ("T_RATE_LIMIT__BURST", "rate_limit.burst"),
            ("T_N_SYMBOLS", "nested.symbols"),
            ("T_NAME", "name"),
        ] {
            assert!(
                names.contains(&(var.to_owned(), key.to_owned())),
                "{var}: {names:?}"
            );
        }
    }

    #[test]
    fn environment_values_are_typed_after_their_key() {
        let c = load_env(&[
            ("T_NAME", "123"),
            ("T_RATE_LIMIT_BURST", "7"),
            ("T_RATE_LIMIT_SYMBOLS", "BTCUSDT, ETHUSDT"),
            ("T_RATE_LIMIT_ENDPOINT", ""),
            ("T_N_SYMBOLS", "[\"A\"]"),
        ])
        .unwrap();
        assert_eq!(c.name, "123");
        assert_eq!(c.rate_limit.burst, 7);
        assert_eq!(c.rate_limit.symbols, ["BTCUSDT", "ETHUSDT"]);
        assert_eq!(c.rate_limit.endpoint, None, "empty unsets");
        assert_eq!(c.nested.unwrap().symbols, ["A"]);
    }

    #[test]
    fn errors_name_source_key_and_reason() {
        let e = load_env(&[("T_RATE_LIMIT__BURST", "0")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "environment variable T_RATE_LIMIT__BURST: rate_limit.burst: \
             invalid value unsigned int `0`, expected a nonzero u32"
        );
        let e = from_toml::<Cfg>("a.toml", "[rate_limit]\nburts = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("a.toml: rate_limit.burts: unknown field"),
            "{e}"
        );
        let e = from_toml::<Cfg>("a.toml", "[rate_limit\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.toml: TOML parse error"), "{e}");
    }

    #[test]
    fn metrics_listen_parses_an_address_or_off() {
        assert_eq!(
            parse_metrics_listen("127.0.0.1:9101").unwrap(),
            Some("127.0.0.1:9101".parse().unwrap())
        );
        assert_eq!(parse_metrics_listen(" OFF ").unwrap(), None);
        assert!(
            parse_metrics_listen("9101")
                .unwrap_err()
                .contains("HOST:PORT")
        );
    }
}
