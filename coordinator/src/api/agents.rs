//! `Agents`: the exchange agents with their health and last contact.

use tonic::{Request, Response, Status};
use wavegate_common::proto::v1 as pb;
use wavegate_common::proto::v1::agents_server::Agents;

use super::Api;
use crate::spans;

#[tonic::async_trait]
impl Agents for Api {
    async fn list(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::AgentList>, Status> {
        spans::serve("Agents.List", request, |_| async {
            let agents = self.core.agents.probe(&self.core.metrics).await;
            Ok(pb::AgentList { agents })
        })
        .await
    }
}
