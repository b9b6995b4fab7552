//! Response figures (R-CHAT-11), on request and live.

use super::*;
use std::collections::HashSet;

pub(super) async fn get_response_metrics(
    api: &ChatApi,
    request: Request<pb::GetResponseMetricsRequest>,
) -> Result<Response<pb::GetResponseMetricsResponse>, Status> {
    let (caller, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            ANY_ROLE,
            "reading response figures",
        )
        .await?;
    let r = request.into_inner();
    let from = r
        .from
        .as_ref()
        .ok_or_else(|| errors::invalid_argument(&[("from", "required".into())]))
        .and_then(|t| instant(t, "from"))?;
    let to =
        r.to.as_ref()
            .ok_or_else(|| errors::invalid_argument(&[("to", "required".into())]))
            .and_then(|t| instant(t, "to"))?;
    if to <= from {
        return Err(errors::invalid_argument(&[(
            "to",
            "must be after from".into(),
        )]));
    }
    let agent = match caller.role() {
        Role::Agent => Some(acting_agent(&caller, &r.agent_id)?),
        _ => Some(r.agent_id).filter(|a| !a.is_empty()),
    };
    let now = api.app.now();
    let window = metrics::Window { from, to };
    let figures = |v: &View, retired: &[Conversation]| {
        let held = |c: &&Conversation| v.desk.conversation(&c.conversation_id).is_none();
        let report = metrics::report_on(
            &v.desk,
            v.desk
                .conversations
                .values()
                .chain(retired.iter().filter(held)),
            window,
            now,
        );
        metrics_pb(&v.desk, &report, now, agent.as_deref())
    };
    // Conversations closed more than a week ago have left the desk: a
    // window that reaches back that far also reads them from the read
    // model, and then the desk a second time. Most windows do not, and are
    // answered from one catch-up.
    let first = api
        .app
        .read(&shop, |v| match v.desk.retired_before {
            Some(before) if window.from < before => Err(before),
            _ => Ok(figures(v, &[])),
        })
        .await
        .map_err(to_status)?;
    let response = match first {
        Ok(response) => response,
        Err(retired_before) => {
            let retired = api
                .app
                .retired_for_figures(&shop, window, retired_before)
                .await
                .map_err(to_status)?;
            api.app
                .read(&shop, |v| figures(v, &retired))
                .await
                .map_err(to_status)?
        }
    };
    Ok(Response::new(response))
}

pub(super) async fn watch_response_metrics(
    api: &ChatApi,
    request: Request<pb::WatchResponseMetricsRequest>,
) -> Result<Response<BoxStream<pb::WatchResponseMetricsResponse>>, Status> {
    let (_, shop) = api
        .authorize(
            &request,
            &request.get_ref().shop_id,
            MANAGERS_AND_PLATFORM,
            "watching response figures",
        )
        .await?;
    let bounds = StreamBounds::of(&request)?;
    let window_secs = match request.get_ref().window_secs {
        0 => DEFAULT_METRICS_WINDOW_SECS,
        s if (60..=86_400).contains(&s) => s,
        _ => {
            return Err(errors::invalid_argument(&[(
                "window_secs",
                "60 to 86400 seconds, or 0 for 3600".into(),
            )]))
        }
    };
    let app = api.app.clone();
    let span = chrono::Duration::seconds(window_secs as i64);
    // Trailing and closed at now: a message at this very instant counts.
    let window_at = move |now: crate::domain::Instant| metrics::Window {
        from: now - span,
        to: now + chrono::Duration::nanoseconds(1),
    };
    // Once, at the start: the conversations with something in the window,
    // and the position the events follow from. Fails now, not in the
    // stream, when the store does not answer.
    let (mut active, position) = app
        .read(&shop, |v| {
            let from = window_at(app.now()).from;
            let active: HashSet<String> = v
                .desk
                .conversations
                .values()
                .filter(|c| metrics::last_counted_at(c).is_some_and(|t| t >= from))
                .map(|c| c.conversation_id.clone())
                .collect();
            (active, v.desk.version)
        })
        .await
        .map_err(to_status)?;
    let mut events = Box::pin(app.events_after(&shop, position).await.map_err(to_status)?);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut last: Option<pb::GetResponseMetricsResponse> = None;
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            // Events only say which conversations to look at again; the
            // figures are computed over those with something in the window,
            // never over the shop's whole history.
            tokio::select! {
                _ = every.tick() => {},
                event = events.next() => match event {
                    Some(Ok(l)) => {
                        if let Some(c) = l.event.conversation_id() {
                            active.insert(c.to_owned());
                        }
                        continue;
                    }
                    Some(Err(e)) => {
                        let _ = tx.send(Err(to_status(e))).await;
                        return;
                    }
                    None => return,
                },
                _ = tx.closed() => return,
            }
            let now = app.now();
            let window = window_at(now);
            let Ok(m) = app
                .read(&shop, |v| {
                    active.retain(|id| {
                        v.desk
                            .conversation(id)
                            .and_then(metrics::last_counted_at)
                            .is_some_and(|t| t >= window.from)
                    });
                    let conversations = active.iter().filter_map(|id| v.desk.conversation(id));
                    let report = metrics::report_on(&v.desk, conversations, window, now);
                    metrics_pb(&v.desk, &report, now, None)
                })
                .await
            else {
                return;
            };
            let unchanged = last
                .as_ref()
                .is_some_and(|l| (&l.shop, &l.agents) == (&m.shop, &m.agents));
            if unchanged {
                continue;
            }
            let message = pb::WatchResponseMetricsResponse {
                shop: m.shop,
                agents: m.agents.clone(),
                response_target_secs: m.response_target_secs,
                as_of: m.as_of,
            };
            last = Some(m);
            if tx.send(Ok(message)).await.is_err() {
                return;
            }
        }
    });
    Ok(Response::new(
        bounds.apply(tokio_stream::wrappers::ReceiverStream::new(rx)),
    ))
}
