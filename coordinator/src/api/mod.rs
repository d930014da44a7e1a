//! The public gRPC API (`api.proto`): one handle on the shared state, a module per service.

mod agents;
mod ingest;
mod params;
mod waves;

use std::sync::Arc;

use crate::state::Core;

/// The API services over the shared state.
#[derive(Debug, Clone)]
pub struct Api {
    core: Arc<Core>,
}

impl Api {
    /// Services over `core`.
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}
