//! Complete traces (issue 17, item 7), checked with a real OTLP/gRPC
//! receiver: a buyer message through chat-svc is one trace with chat's
//! SERVER span, its CLIENT span for the robot's call and faq-svc's SERVER
//! span under it, each named `package.Service/Method` with the OpenTelemetry
//! RPC attributes; a refused call records its code. A revocation recorded in
//! compliance-svc reaches ads-svc's consumer in the same trace: the relay's
//! PRODUCER span under the request, ads' CONSUMER span under it. Own test
//! binary: the telemetry subscriber is process-global.

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        trace_service_server::{TraceService, TraceServiceServer},
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    },
    common::v1::any_value::Value,
    trace::v1::{span::SpanKind, status::StatusCode, Span},
};
use sellerdesk::client::authed;
use sellerdesk_api::chat::v1::{self as pb, chat_service_client::ChatServiceClient};
use sellerdesk_runtime::{host::Host, telemetry, Config, Role, SystemClock};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Debug, Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

fn named<'a>(spans: &'a [Span], name: &str, kind: SpanKind) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.name == name && s.kind == kind as i32)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_messages_are_complete_traces() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        otlp_endpoint: Some(format!("http://127.0.0.1:{port}")),
        log_filter: "warn".into(),
        ..Config::default()
    };
    let guard = telemetry::init(&config, "otlp-test").unwrap();
    let common = sellerdesk::stack::common(&config, Arc::new(SystemClock))
        .await
        .unwrap();
    let faq_settings = sellerdesk::stack::settings::<faq_svc::Faq>(&config, common.clone())
        .await
        .unwrap();
    let faq = Host::<faq_svc::Faq>::spawn_local(faq_settings)
        .await
        .unwrap();
    let mut chat_settings = sellerdesk::stack::settings::<chat_svc::Chat>(&config, common.clone())
        .await
        .unwrap();
    chat_settings.faq_endpoint = faq.endpoint();
    let (chat, _) = chat_svc::spawn_local(chat_settings).await.unwrap();
    // compliance-svc and ads-svc on the same in-process bus: a revocation
    // travels compliance -> relay -> ads' consumer.
    let compliance_settings =
        sellerdesk::stack::settings::<compliance_svc::Compliance>(&config, common.clone())
            .await
            .unwrap();
    let compliance = Host::<compliance_svc::Compliance>::spawn_local(compliance_settings)
        .await
        .unwrap();
    let ads_settings = sellerdesk::stack::settings::<ads_svc::Ads>(&config, common.clone())
        .await
        .unwrap();
    let ads = Host::<ads_svc::Ads>::spawn_local(ads_settings)
        .await
        .unwrap();
    let signer = config.dev_signer().unwrap();
    let platform = sellerdesk::client::token(&signer, "", Role::Platform, "gateway", 1);
    let mut client =
        ChatServiceClient::new(sellerdesk::client::channel(&chat.endpoint()).await.unwrap());
    client
        .open_conversation(authed(
            &platform,
            pb::OpenConversationRequest {
                shop_id: "traced-shop".into(),
                conversation_id: "c1".into(),
                buyer_id: "b1".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    client
        .send_buyer_message(authed(
            &platform,
            pb::SendBuyerMessageRequest {
                shop_id: "traced-shop".into(),
                conversation_id: "c1".into(),
                message_id: "m1".into(),
                text: "退款多久到账".into(),
                attachment: None,
            },
        ))
        .await
        .unwrap();
    let refused = client
        .get_conversation(authed(
            &platform,
            pb::GetConversationRequest {
                shop_id: "traced-shop".into(),
                conversation_id: "no-such".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound);
    let mut compliance_client = sellerdesk::client::compliance(
        sellerdesk::client::channel(&compliance.endpoint())
            .await
            .unwrap(),
    );
    compliance_client
        .record_violation(authed(
            &platform,
            sellerdesk_api::compliance::v1::RecordViolationRequest {
                shop_id: "traced-shop".into(),
                violation_id: "v1".into(),
                points: Some(48),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    // ads-svc has applied the revocation once its account says so.
    let owner = sellerdesk::client::token(&signer, "traced-shop", Role::Owner, "owner", 1);
    let mut ads_client = sellerdesk_api::ads::v1::ads_service_client::AdsServiceClient::new(
        sellerdesk::client::channel(&ads.endpoint()).await.unwrap(),
    );
    let started = std::time::Instant::now();
    loop {
        let account = ads_client
            .get_account(authed(
                &owner,
                sellerdesk_api::ads::v1::GetAccountRequest::default(),
            ))
            .await
            .unwrap()
            .into_inner();
        if !account.may_place_orders {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "ads never heard"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Decision 0016: two chat replicas on one store, each owning some shops.
    // A request that reaches the replica which does not own its shop is
    // forwarded: a CLIENT span under the first replica's SERVER span, and the
    // owner's SERVER span under it.
    let mut replica_settings =
        sellerdesk::stack::settings::<chat_svc::Chat>(&config, common.clone())
            .await
            .unwrap();
    replica_settings.faq_endpoint = faq.endpoint();
    let (first, _) = chat_svc::spawn_replica(replica_settings.clone())
        .await
        .unwrap();
    let (second, _) = chat_svc::spawn_replica(replica_settings).await.unwrap();
    first.until_replicas(2).await;
    second.until_replicas(2).await;
    let mut via_first = ChatServiceClient::new(
        sellerdesk::client::channel(&first.endpoint())
            .await
            .unwrap(),
    );
    for i in 0..16 {
        via_first
            .list_agents(authed(
                &platform,
                pb::ListAgentsRequest {
                    shop_id: format!("forwarded-shop-{i}"),
                },
            ))
            .await
            .unwrap();
    }
    drop(guard); // flushes the batch exporter
    let started = std::time::Instant::now();
    let spans = loop {
        let spans = collector.0.lock().unwrap().clone();
        if spans.iter().any(|s| s.kind == SpanKind::Consumer as i32)
            || started.elapsed() > Duration::from_secs(10)
        {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let send = named(
        &spans,
        "sellerdesk.chat.v1.ChatService/SendBuyerMessage",
        SpanKind::Server,
    );
    assert_eq!(
        send.len(),
        1,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let send = send[0];
    assert_eq!(attribute(send, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        attribute(send, "rpc.service").as_deref(),
        Some("sellerdesk.chat.v1.ChatService")
    );
    assert_eq!(
        attribute(send, "rpc.method").as_deref(),
        Some("SendBuyerMessage")
    );
    assert_eq!(
        attribute(send, "rpc.grpc.status_code").as_deref(),
        Some("0")
    );
    assert_eq!(attribute(send, "shop_id").as_deref(), Some("traced-shop"));
    assert!(
        !spans.iter().any(|s| s.name == "send_buyer_message"),
        "no span named after a Rust function"
    );

    let call = named(
        &spans,
        "sellerdesk.faq.v1.FaqService/Match",
        SpanKind::Client,
    );
    assert_eq!(
        call.len(),
        1,
        "one CLIENT span for the robot call: {:?}",
        spans.iter().map(|s| (&s.name, s.kind)).collect::<Vec<_>>()
    );
    let call = call[0];
    assert_eq!(
        call.trace_id, send.trace_id,
        "the robot's call is in the message's trace"
    );
    let served = named(
        &spans,
        "sellerdesk.faq.v1.FaqService/Match",
        SpanKind::Server,
    );
    assert_eq!(served.len(), 1, "faq-svc's SERVER span");
    assert_eq!(served[0].trace_id, send.trace_id);
    assert_eq!(
        served[0].parent_span_id, call.span_id,
        "faq's span is the client span's child"
    );

    let list = "sellerdesk.chat.v1.ChatService/ListAgents";
    let hops = named(&spans, list, SpanKind::Client);
    assert!(
        !hops.is_empty() && hops.len() < 16,
        "some of 16 shops are the other replica's: {} forwarded",
        hops.len()
    );
    let served = named(&spans, list, SpanKind::Server);
    for hop in hops {
        let received = served
            .iter()
            .find(|s| s.span_id == hop.parent_span_id)
            .expect("the hop is a child of the receiving replica's SERVER span");
        let owner = served
            .iter()
            .find(|s| s.parent_span_id == hop.span_id)
            .expect("the owner's SERVER span is the hop's child");
        assert_eq!(owner.trace_id, received.trace_id);
        assert_eq!(attribute(hop, "rpc.grpc.status_code").as_deref(), Some("0"));
    }

    let get = named(
        &spans,
        "sellerdesk.chat.v1.ChatService/GetConversation",
        SpanKind::Server,
    );
    assert_eq!(get.len(), 1);
    assert_eq!(
        attribute(get[0], "rpc.grpc.status_code").as_deref(),
        Some("5")
    );
    let status = get[0].status.as_ref().map_or(0, |s| s.code);
    assert_ne!(
        status,
        StatusCode::Error as i32,
        "a caller's mistake is no server error"
    );
}
