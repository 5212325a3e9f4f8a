//! The node's WebSocket, natively: pushed proposals are taken as they come, and the connection is re-made when it
//! drops, for as long as the client lives.

use std::time::Duration;

use futures_util::StreamExt;
use spoke_protocol::wire::NodeEvent;
use tokio_tungstenite::tungstenite::Message;

use crate::Client;

pub(crate) fn spawn(client: Client) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        while client.is_alive() {
            match listen(&client).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => tracing::debug!(error = %e, "the node's WebSocket dropped"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            if !client.is_alive() {
                break;
            }
            // What was pushed while the socket was down waits at /channel/pending.
            if let Err(e) = client.refresh().await {
                tracing::debug!(error = %e, "catching up after reconnecting failed");
            }
        }
    });
}

async fn listen(client: &Client) -> Result<(), String> {
    let api = client.api();
    let base = api
        .base()
        .replacen("http://", "ws://", 1)
        .replacen("https://", "wss://", 1);
    let token = api.token().ok_or("not logged in")?;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{base}/ws?token={token}"))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(message) = socket.next().await {
        if !client.is_alive() {
            return Ok(());
        }
        match message.map_err(|e| e.to_string())? {
            Message::Text(text) => match serde_json::from_str::<NodeEvent>(&text) {
                Ok(event) => client.handle_event(event),
                Err(e) => tracing::warn!(error = %e, "the node pushed something unreadable"),
            },
            Message::Close(_) => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}
