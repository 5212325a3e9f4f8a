//! The node's WebSocket: pushed proposals are taken as they come, and the connection is re-made when it drops, for
//! as long as the client lives. tokio-tungstenite natively; the page's (or Node.js's) `WebSocket` in wasm.

use std::time::Duration;

use spoke_protocol::wire::NodeEvent;

use crate::{platform, Client};

pub(crate) fn spawn(client: Client) {
    platform::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        while client.is_alive() {
            match listen(&client).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => tracing::debug!(error = %e, "the node's WebSocket dropped"),
            }
            platform::sleep(backoff).await;
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

fn socket_url(client: &Client) -> Result<String, String> {
    let api = client.api();
    let base = api
        .base()
        .replacen("http://", "ws://", 1)
        .replacen("https://", "wss://", 1);
    let token = api.token().ok_or("not logged in")?;
    Ok(format!("{base}/ws?token={token}"))
}

fn take(client: &Client, text: &str) {
    match serde_json::from_slice::<NodeEvent>(text.as_bytes()) {
        Ok(event) => client.handle_event(event),
        Err(e) => tracing::warn!(error = %e, "the node pushed something unreadable"),
    }
}

#[cfg(not(target_arch = "wasm32"))]
async fn listen(client: &Client) -> Result<(), String> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let (mut socket, _) = tokio_tungstenite::connect_async(socket_url(client)?)
        .await
        .map_err(|e| e.to_string())?;
    while let Some(message) = socket.next().await {
        if !client.is_alive() {
            return Ok(());
        }
        match message.map_err(|e| e.to_string())? {
            Message::Text(text) => take(client, &text),
            Message::Close(_) => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(target_arch = "wasm32")]
async fn listen(client: &Client) -> Result<(), String> {
    use wasm_bindgen::{closure::Closure, JsCast};

    let socket = web_sys::WebSocket::new(&socket_url(client)?)
        .map_err(|_| "the WebSocket could not be opened".to_string())?;
    // The socket's callbacks feed a channel the loop below reads; `None` means the socket closed.
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
    let on_message = {
        let sender = sender.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if let Some(text) = event.data().as_string() {
                let _ = sender.send(Some(text));
            }
        })
    };
    let on_close = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        let _ = sender.send(None);
    });
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    while let Some(Some(text)) = received.recv().await {
        if !client.is_alive() {
            break;
        }
        take(client, &text);
    }
    // The callbacks are about to be freed: the socket must not call them again.
    socket.set_onmessage(None);
    socket.set_onclose(None);
    let _ = socket.close();
    Ok(())
}
