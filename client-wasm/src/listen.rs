//! The node's WebSocket: pushed proposals are taken as they come, and the connection is re-made when it drops, for
//! as long as the client lives. tokio-tungstenite natively; the page's (or Node.js's) `WebSocket` in wasm.

use std::time::Duration;

use spoke_protocol::{json::from_slice, wire::NodeEvent};

use crate::{client::Background, platform, Client};

/// The first wait before connecting again, and the longest.
const FIRST_WAIT: Duration = Duration::from_millis(100);
const LONGEST_WAIT: Duration = Duration::from_secs(5);

/// How a connection to the node's WebSocket ended.
#[derive(Debug)]
enum Ended {
    /// It worked until the node closed it, or it dropped: the node drops a connection whose pushes pile up
    /// unread, as under a burst of payments to one user.
    AfterWorking(Option<String>),
    /// It could not be made, or it delivered nothing before it closed.
    Failed(String),
}

/// How long to wait before the next connection, and the wait to start from if that one fails too. Waits double
/// while connecting fails, up to [`LONGEST_WAIT`]. A connection that worked starts again from [`FIRST_WAIT`]: while
/// the client is not listening, proposals pushed to it (a payment's lock to it, above all) wait for it, so a
/// connection dropped under load must come back at once, however often connecting had failed before.
fn waits(previous: Duration, ended: &Ended) -> (Duration, Duration) {
    let wait = match ended {
        Ended::AfterWorking(_) => FIRST_WAIT,
        Ended::Failed(_) => previous,
    };
    (wait, (wait * 2).min(LONGEST_WAIT))
}

pub(crate) fn spawn(client: &Client) {
    let mut background = client.downgrade();
    platform::spawn(async move {
        let mut backoff = FIRST_WAIT;
        loop {
            let url = match background.client().map(|c| socket_url(&c)) {
                Some(Ok(url)) => url,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen to the node");
                    return;
                }
                None => return,
            };
            let ended = listen(&mut background, &url).await;
            if let Ended::AfterWorking(Some(e)) | Ended::Failed(e) = &ended {
                tracing::debug!(error = %e, "the node's WebSocket dropped");
            }
            let (wait, next) = waits(backoff, &ended);
            backoff = next;
            if background
                .unless_stopped(platform::sleep(wait))
                .await
                .is_none()
            {
                return;
            }
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
async fn listen(background: &mut Background, url: &str) -> Ended {
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
        // The client stopped: the loop ends at its next wait.
        return Ended::AfterWorking(None);
    };
    let mut socket = match connected {
        Ok((socket, _)) => socket,
        Err(e) => return Ended::Failed(e.to_string()),
    };
    loop {
        let Some(Some(message)) = background.unless_stopped(socket.next()).await else {
            // Closed or dropped, or the node closed the stream; dropping the socket closes the connection.
            return Ended::AfterWorking(None);
        };
        let Some(client) = background.client() else {
            return Ended::AfterWorking(None);
        };
        match message {
            Ok(Message::Text(text)) => take(&client, &text),
            Ok(Message::Close(_)) => return Ended::AfterWorking(None),
            Ok(_) => {}
            Err(e) => return Ended::AfterWorking(Some(e.to_string())),
        }
    }
}

#[cfg(target_arch = "wasm32")]
async fn listen(background: &mut Background, url: &str) -> Ended {
    use wasm_bindgen::{closure::Closure, JsCast};

    let Ok(socket) = web_sys::WebSocket::new(url) else {
        return Ended::Failed("the WebSocket could not be opened".into());
    };
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
    // The page's WebSocket tells a connection that failed from one that closed only by its `close` event's code;
    // a connection that delivered a push worked.
    let mut worked = false;
    // The stop signal is awaited here, not around this function, so that the cleanup below always runs.
    while let Some(Some(Some(text))) = background.unless_stopped(received.recv()).await {
        let Some(client) = background.client() else {
            break;
        };
        worked = true;
        take(&client, &text);
    }
    // The callbacks are about to be freed: the socket must not call them again.
    socket.set_onmessage(None);
    socket.set_onclose(None);
    let _ = socket.close();
    if worked {
        Ended::AfterWorking(None)
    } else {
        Ended::Failed("the WebSocket closed before the node pushed anything".into())
    }
}

#[cfg(test)]
mod tests {
    use spoke_protocol::{
        wire::{IncomingPayment, PaymentStatus, PendingProposal},
        Address, Lock, Proposal, Side, Signature, Update, B256, U256,
    };

    use super::*;

    #[test]
    fn a_connection_that_worked_is_made_again_at_once_however_often_connecting_failed_before() {
        let failed = || Ended::Failed("refused".into());
        let mut backoff = FIRST_WAIT;
        let mut waited = Vec::new();
        for _ in 0..8 {
            let (wait, next) = waits(backoff, &failed());
            waited.push(wait.as_millis());
            backoff = next;
        }
        assert_eq!(waited, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        for ended in [
            Ended::AfterWorking(Some("connection reset".into())),
            Ended::AfterWorking(None),
        ] {
            assert_eq!(waits(backoff, &ended), (FIRST_WAIT, FIRST_WAIT * 2));
        }
        // And it fails again: the waits grow from the first one.
        assert_eq!(waits(FIRST_WAIT * 2, &failed()).0, FIRST_WAIT * 2);
    }

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
