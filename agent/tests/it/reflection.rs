//! gRPC server reflection: what `grpcurl` uses to describe the agent without the .proto files.

use crate::support::*;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn reflection_lists_and_describes_the_agent_service() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, _client) = start(config(dir.path(), 1, "binance")).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", agent.local_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel);
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "wavegate.v1.ExchangeAgent".into(),
            )),
        },
    ];
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();

    let listed = answers.message().await.unwrap().unwrap().message_response;
    let Some(MessageResponse::ListServicesResponse(list)) = listed else {
        panic!("expected a service list, got {listed:?}");
    };
    // Exactly what the agent serves: not the coordinator's public API, which shares the
    // descriptor set.
    let mut names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "wavegate.v1.ExchangeAgent",
        ]
    );

    let file = answers.message().await.unwrap().unwrap().message_response;
    let Some(MessageResponse::FileDescriptorResponse(files)) = file else {
        panic!("expected file descriptors, got {file:?}");
    };
    // The descriptor that defines the service (agent.proto) is among those returned.
    assert!(
        files
            .file_descriptor_proto
            .iter()
            .any(|f| f.windows(b"ExecuteWave".len()).any(|w| w == b"ExecuteWave")),
        "no descriptor defines ExecuteWave"
    );
    agent.shutdown().await;
}
