//! The coordinator ↔ agent round trip of docs/design.md §5's bound, measured: unary `Describe`
//! calls to an agent over a connection of their own. Shared with the repository's `waves` bench.

use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::exchange_agent_client::ExchangeAgentClient;

use super::stats::Summary;
use crate::error::CliError;

/// Calls made first and not timed (connection set-up, first allocations).
const WARM_UP: usize = 5;

/// The median of `samples` unary round trips to the agent at `endpoint` (`http://host:port`),
/// in ms.
pub async fn median_ms(endpoint: &str, samples: usize) -> Result<f64, CliError> {
    let failed = |e: &dyn std::fmt::Display| {
        CliError::Failed(format!("round trip to the agent at {endpoint}: {e}"))
    };
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| failed(&e))?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| failed(&e))?;
    let mut client = ExchangeAgentClient::new(channel);
    let mut times = Vec::with_capacity(samples);
    for i in 0..WARM_UP + samples {
        let t = std::time::Instant::now();
        (client.describe(pb::DescribeRequest {}).await).map_err(|e| failed(&e))?;
        if i >= WARM_UP {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(Summary::of(&times).p50)
}
