//! The journal against the venue: trading waits (`NOT_SERVING`) until every open position is
//! accounted for, else waves could run again. `--confirm-new-journal` accepts the venue's state.

use tokio::sync::Mutex;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{error, info, warn};
use wavegate_common::proto::v1::exchange_agent_server::ExchangeAgentServer;

use crate::exchange::Exchange;
use crate::journal::Journal;
use crate::service::AgentService;

/// Why trading is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The venue's positions or the journal could not be read (`UNAVAILABLE`).
    #[error("{0}")]
    Unchecked(String),
    /// The journal does not know what the venue holds (`FAILED_PRECONDITION`).
    #[error("{0}")]
    Behind(String),
}

impl Refusal {
    /// The gRPC status of a wave refused for this.
    pub fn status(&self) -> tonic::Status {
        match self {
            Refusal::Unchecked(r) => tonic::Status::unavailable(r.clone()),
            Refusal::Behind(r) => tonic::Status::failed_precondition(r.clone()),
        }
    }
}

/// Most symbols named in a refusal.
const NAMED: usize = 5;

/// Where the comparison stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Not compared yet, or compared at start-up only (compared again before the first wave).
    Due { at_start: bool },
    /// The journal accounts for the venue: trading goes on.
    Clear,
    /// Trading refused for this reason; compared again before the next wave.
    Blocked(Refusal),
}

/// The comparison's state, shared by the agent's sessions.
#[derive(Debug)]
pub struct VenueCheck {
    /// The state, and whether the operator's confirmation is still to be used.
    state: Mutex<(State, bool)>,
    names: Names,
    health: std::sync::OnceLock<HealthReporter>,
}

impl VenueCheck {
    /// A check for a live account (`live`; paper: clear). `confirm`: `--confirm-new-journal`.
    pub fn new(live: bool, confirm: bool, names: Names) -> Self {
        let state = if live {
            State::Due { at_start: false }
        } else {
            State::Clear
        };
        Self {
            state: Mutex::new((state, confirm)),
            names,
            health: std::sync::OnceLock::new(),
        }
    }

    /// Publishes the verdict on `reporter` (gRPC health) from now on.
    pub async fn set_reporter(&self, reporter: HealthReporter) {
        let serving = matches!(
            self.state.lock().await.0,
            State::Clear | State::Due { at_start: true }
        );
        publish(&reporter, serving).await;
        let _ = self.health.set(reporter);
    }

    /// The start-up comparison; a refusal is logged and kept, never fatal.
    pub async fn at_start(&self, journal: &Journal, exchange: &dyn Exchange) {
        let mut st = self.state.lock().await;
        if st.0 == State::Clear {
            return;
        }
        let verdict = compare(journal, exchange, &self.names, &mut st.1).await;
        st.0 = match verdict {
            Ok(()) => State::Due { at_start: true },
            Err(reason) => {
                error!(%reason, "trading refused until the journal accounts for the venue");
                State::Blocked(reason)
            }
        };
    }

    /// Before a wave: `Ok` when trading may go on, else why not. Compares until clear once.
    pub async fn before_wave(
        &self,
        journal: &Journal,
        exchange: &dyn Exchange,
    ) -> Result<(), Refusal> {
        let mut st = self.state.lock().await;
        if st.0 == State::Clear {
            return Ok(());
        }
        let was_blocked = matches!(st.0, State::Blocked(_));
        let verdict = compare(journal, exchange, &self.names, &mut st.1).await;
        match &verdict {
            Ok(()) => {
                st.0 = State::Clear;
                if was_blocked {
                    info!("the journal accounts for the venue now: trading resumes");
                }
            }
            Err(reason) => {
                if !was_blocked {
                    error!(%reason, "trading refused until the journal accounts for the venue");
                }
                st.0 = State::Blocked(reason.clone());
            }
        }
        if let Some(h) = self.health.get() {
            publish(h, verdict.is_ok()).await;
        }
        verdict
    }
}

/// What a refusal names.
#[derive(Debug, Clone)]
pub struct Names {
    /// The journal's path.
    pub journal: String,
    /// The exchange's name.
    pub exchange: String,
}

async fn publish(reporter: &HealthReporter, serving: bool) {
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    let name = <ExchangeAgentServer<AgentService> as NamedService>::NAME;
    reporter.set_service_status(name, status).await;
}

/// One comparison: `Ok` when every position is known or acknowledged by a pending `confirm`.
async fn compare(
    journal: &Journal,
    exchange: &dyn Exchange,
    what: &Names,
    confirm: &mut bool,
) -> Result<(), Refusal> {
    let open = exchange.open_positions().await.map_err(|e| {
        Refusal::Unchecked(format!(
            "journal {} not yet checked against the {} account: its open positions are \
             unavailable ({e}); no order is sent until they can be read",
            what.journal, what.exchange
        ))
    })?;
    let known = journal.known_position_symbols().await.map_err(|e| {
        Refusal::Unchecked(format!(
            "journal {} cannot be read to check it against the venue: {e}",
            what.journal
        ))
    })?;
    let unknown: Vec<String> = open.into_iter().filter(|s| !known.contains(s)).collect();
    if unknown.is_empty() {
        *confirm = false;
        return Ok(());
    }
    if *confirm {
        journal.acknowledge_positions(&unknown).await.map_err(|e| {
            Refusal::Unchecked(format!(
                "journal {}: the confirmed positions could not be recorded: {e}",
                what.journal
            ))
        })?;
        *confirm = false;
        warn!(positions = unknown.len(), symbols = %named(&unknown),
              "confirmed by the operator: open positions the journal did not know are taken as known");
        return Ok(());
    }
    Err(Refusal::Behind(format!(
        "journal {} is behind the {} account: it does not know {} open position(s) ({}); it \
         may be empty, replaced, or an older copy restored. Put the agent's latest journal back \
         (or close those positions), or confirm with --confirm-new-journal \
         (confirm_new_journal = true) to take them as known",
        what.journal,
        what.exchange,
        unknown.len(),
        named(&unknown)
    )))
}

fn named(symbols: &[String]) -> String {
    let mut v: Vec<&str> = symbols.iter().take(NAMED).map(String::as_str).collect();
    if symbols.len() > NAMED {
        v.push("…");
    }
    v.join(", ")
}
