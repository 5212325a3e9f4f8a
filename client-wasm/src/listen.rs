//! The node's WebSocket: pushed proposals are taken as they come, and the connection is re-made when it drops, for
//! as long as the client lives. tokio-tungstenite natively; the page's (or Node.js's) `WebSocket` in wasm.

use std::time::Duration;

use spoke_protocol::{json::from_slice, wire::NodeEvent};

use crate::{client::Background, platform, Client};

pub(crate) fn spawn(client: &Client) {
    let mut background = client.downgrade();
    platform::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let url = match background.client().map(|c| socket_url(&c)) {
                Some(Ok(url)) => url,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen to the node");
                    return;
                }
                None => return,
            };
            match listen(&mut background, &url).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => tracing::debug!(error = %e, "the node's WebSocket dropped"),
            }
            if background
                .unless_stopped(platform::sleep(backoff))
                .await
                .is_none()
            {
                return;
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            let Some(client) = background.client() else {
                return;
            };
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
    match from_slice::<NodeEvent>(text.as_bytes()) {
        Ok(event) => client.handle_event(event),
        Err(e) => tracing::warn!(error = %e, "the node pushed something unreadable"),
    }
}

#[cfg(not(target_arch = "wasm32"))]
async fn listen(background: &mut Background, url: &str) -> Result<(), String> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    // tungstenite zeroes its whole read buffer (128 KiB by default) before every read; a push is a few KiB, and a
    // larger one still arrives whole, as the buffer grows to the length its frame header announces.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024);
    let Some(connected) = background
        .unless_stopped(tokio_tungstenite::connect_async_with_config(
            url,
            Some(config),
            true,
        ))
        .await
    else {
        return Ok(());
    };
    let (mut socket, _) = connected.map_err(|e| e.to_string())?;
    loop {
        let Some(Some(message)) = background.unless_stopped(socket.next()).await else {
            // Closed or dropped, or the node closed the stream; dropping the socket closes the connection.
            return Ok(());
        };
        let Some(client) = background.client() else {
            return Ok(());
        };
        match message.map_err(|e| e.to_string())? {
            Message::Text(text) => take(&client, &text),
            Message::Close(_) => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(target_arch = "wasm32")]
async fn listen(background: &mut Background, url: &str) -> Result<(), String> {
    use wasm_bindgen::{closure::Closure, JsCast};

    let socket = web_sys::WebSocket::new(url)
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
    // The stop signal is awaited here, not around this function, so that the cleanup below always runs.
    while let Some(Some(Some(text))) = background.unless_stopped(received.recv()).await {
        let Some(client) = background.client() else {
            break;
        };
        take(&client, &text);
    }
    // The callbacks are about to be freed: the socket must not call them again.
    socket.set_onmessage(None);
    socket.set_onclose(None);
    let _ = socket.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use spoke_protocol::{
        wire::{IncomingPayment, PaymentStatus, PendingProposal},
        Address, Lock, Proposal, Side, Signature, Update, B256, U256,
    };

    use super::*;

    #[test]
    fn events_decode_as_serde_decodes_them() {
        let proposal = NodeEvent::Proposal(Box::new(PendingProposal {
            proposal: Proposal {
                nonce: 7,
                update: Update::CreateLock {
                    lock: Lock {
                        id: B256::repeat_byte(1),
                        asset: Address::repeat_byte(2),
                        amount: U256::from(3),
                        sender: Side::Node,
                        hashlock: B256::repeat_byte(4),
                        expiry: 5,
                    },
                },
                signature: Signature::new(U256::from(6), U256::from(7), true),
            },
            payment: Some(IncomingPayment {
                id: B256::repeat_byte(8),
                payer: Address::repeat_byte(9),
                encrypted_preimage: None,
            }),
        }));
        let payment = NodeEvent::Payment {
            id: B256::repeat_byte(1),
            status: PaymentStatus::Completed,
            payer: Address::repeat_byte(2),
            payee: None,
            asset: Address::ZERO,
            amount: U256::from(10),
        };
        for event in [proposal, payment] {
            let json = serde_json::to_vec(&event).expect("json");
            assert_eq!(from_slice::<NodeEvent>(&json).expect("decodes"), event);
            let serde = serde_json::from_slice::<NodeEvent>(&json).expect("serde decodes");
            assert_eq!(serde, event);
        }
        for bad in [
            &br#"{"type":"other"}"#[..],
            br#"{"id":"0x01"}"#,
            br#"{"type":"payment","id":"0x01"}"#,
            br#"{"type":"proposal"}"#,
        ] {
            assert!(from_slice::<NodeEvent>(bad).is_err());
            assert!(serde_json::from_slice::<NodeEvent>(bad).is_err());
        }
    }
}
