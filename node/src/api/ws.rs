//! `GET /ws`: one WebSocket per client, over which the node pushes its proposals and payment events as JSON. The
//! client answers over HTTP, so the socket carries nothing from the client but control frames; anything larger
//! than [`FRAME_LIMIT`] closes it.

use axum::{
    extract::{
        ws::{Message, WebSocket},
        State, WebSocketUpgrade,
    },
    http::HeaderMap,
    response::Response,
};
use serde::Deserialize;
use spoke_protocol::Address;

use super::{auth, route, ApiError, ApiQuery, AppState};
use crate::hub::Event;

/// Clients send only control frames; a few KiB is plenty.
const FRAME_LIMIT: usize = 16 * 1024;
/// What one read from the socket may fill. tungstenite zeroes that much before every read (128 KiB by default,
/// 3% of the node's CPU in the closed-loop bench, all of it `memset`); a larger frame still arrives whole, as the
/// buffer grows to the length its header announces.
const READ_BUFFER: usize = 4 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    /// Browsers cannot set headers on a WebSocket, so the session token may come as `?token=`.
    #[serde(default)]
    token: Option<String>,
}

pub async fn connect(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<WsQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let token = match query.token {
        Some(t) => t,
        None => auth::bearer(&headers)?.to_string(),
    };
    let user = auth::user_of_token(&state, &token).await?;
    Ok(ws
        .max_message_size(FRAME_LIMIT)
        .max_frame_size(FRAME_LIMIT)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| session(state, user, socket)))
}

async fn session(state: AppState, user: Address, mut socket: WebSocket) {
    let mut events = state.hub.subscribe(user);
    tracing::debug!(%user, "client connected");
    // What waited for this user: a pending proposal, and payments to forward now that it is here.
    match state.store.channel_of_user(user).await {
        Ok(Some(record)) => match route::pending(&state, record.channel_id).await {
            Ok(Some(p)) => {
                if send(&mut socket, &Event::Proposal(Box::new(p)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(None) => route::drive_for(&state, record.channel_id, true).await,
            Err(e) => tracing::error!(error = %e, "could not read a pending proposal"),
        },
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "could not read a channel"),
    }
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    if send(&mut socket, &event).await.is_err() {
                        break;
                    }
                }
                // The hub dropped this connection as too slow.
                None => break,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    tracing::debug!(%user, "client disconnected");
}

async fn send(socket: &mut WebSocket, event: &Event) -> Result<(), ()> {
    let text = serde_json::to_string(event).map_err(|e| {
        tracing::error!(error = %e, "an event did not serialize");
    })?;
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|_| ())
}
