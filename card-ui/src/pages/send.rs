//! Send: to an address or a pasted request link, directly or as a link anyone can redeem.

use alloy_primitives::Address;
use yew::prelude::*;

use super::{bind, bind_check, problem};
use crate::{amount, app::use_ctx, route::Route, scan::Scanner, service::Service};

#[derive(Properties, PartialEq)]
pub struct SendProps {
    pub to: String,
    pub amount: String,
}

/// The recipient and amount in what was typed, pasted or scanned: an address, a request link
/// (`…/send?to=…&amount=…`), or another wallet's payment URI (`ethereum:0x…`, EIP-681; only its address is used,
/// since its amounts are in other units).
fn read_recipient(text: &str) -> (String, Option<String>) {
    let text = text.trim();
    if let Some((_, query)) = text.split_once("/send?") {
        if let Route::Send { to, amount } = Route::parse("/send", query) {
            return (to, Some(amount).filter(|a| !a.is_empty()));
        }
    }
    if let Some(uri) = text.strip_prefix("ethereum:") {
        let address = uri.split(['@', '/', '?']).next().unwrap_or_default();
        return (address.to_string(), None);
    }
    (text.to_string(), None)
}

#[function_component(Send)]
pub fn send(props: &SendProps) -> Html {
    let ctx = use_ctx();
    let card = &ctx.card;
    let to = use_state(|| props.to.clone());
    let typed_amount = use_state(|| props.amount.clone());
    let as_link = use_state(|| false);
    let scanning = use_state(|| false);
    let scanned_wrong = use_state(|| None::<String>);
    let on_recipient = {
        let to = to.clone();
        let typed_amount = typed_amount.clone();
        Callback::from(move |e: InputEvent| {
            let text = e
                .target_unchecked_into::<web_sys::HtmlInputElement>()
                .value();
            let (recipient, amount) = read_recipient(&text);
            to.set(recipient);
            if let Some(amount) = amount {
                typed_amount.set(amount);
            }
        })
    };
    let toggle_scan = {
        let (scanning, scanned_wrong) = (scanning.clone(), scanned_wrong.clone());
        Callback::from(move |_| {
            scanned_wrong.set(None);
            scanning.set(!*scanning);
        })
    };
    let on_scanned = {
        let (to, typed_amount) = (to.clone(), typed_amount.clone());
        let (scanning, scanned_wrong) = (scanning.clone(), scanned_wrong.clone());
        Callback::from(move |text: String| {
            scanning.set(false);
            let (recipient, amount) = read_recipient(&text);
            if spoke_protocol::parse_address(&recipient).is_err() {
                scanned_wrong.set(Some(format!(
                    "That QR code holds neither an address nor a request link: \"{text}\"."
                )));
                return;
            }
            scanned_wrong.set(None);
            to.set(recipient);
            if let Some(amount) = amount {
                typed_amount.set(amount);
            }
        })
    };
    let balance = card.dai_balance();
    let recipient: Result<Address, String> = if *as_link {
        Ok(Address::ZERO)
    } else if to.trim().is_empty() {
        Err("Enter the recipient's address or paste their request link.".into())
    } else {
        spoke_protocol::parse_address(&to)
            .map_err(|e| format!("Check the address: {e}."))
            .and_then(|a| {
                if Some(a) == card.address {
                    Err("That is this card's own address.".into())
                } else {
                    Ok(a)
                }
            })
    };
    let amount = amount::parse_at_most(&typed_amount, balance);
    let why_not = recipient.clone().err().or_else(|| amount.clone().err());
    let send = {
        let service = ctx.service.clone();
        let as_link = *as_link;
        let typed_amount = typed_amount.clone();
        let ready = recipient.clone().ok().zip(amount.clone().ok());
        Callback::from(move |_| {
            let Some((to, amount)) = ready else {
                return;
            };
            if as_link {
                Service::send_link(&service, amount);
            } else {
                Service::send(&service, to, amount);
            }
            typed_amount.set(String::new());
        })
    };
    html! {
        <section class="page send">
            <h1>{ "Send" }</h1>
            <label class="check">
                <input id="send-as-link" type="checkbox" checked={*as_link} onchange={bind_check(&as_link)} />
                { "Make a link instead: anyone who opens it gets the Dai" }
            </label>
            if !*as_link {
                <label>{ "To (an address, or a request link)" }
                    <input id="send-to" placeholder="0x…" value={(*to).clone()} oninput={on_recipient} />
                </label>
                <button class="link" id="scan" onclick={toggle_scan}>
                    { if *scanning { "Stop scanning" } else { "Scan a QR code" } }
                </button>
                if *scanning {
                    <Scanner on_found={on_scanned} />
                }
                { problem((*scanned_wrong).clone()) }
            }
            <label>{ format!("Amount (Dai; the card holds {})", amount::format(balance, 4)) }
                <input id="send-amount" inputmode="decimal" value={(*typed_amount).clone()} oninput={bind(&typed_amount)} />
            </label>
            { problem(why_not.clone()) }
            <button id="send" disabled={why_not.is_some()} onclick={send}>
                { if *as_link { "Make the link" } else { "Send" } }
            </button>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_request_link_gives_recipient_and_amount() {
        assert_eq!(
            read_recipient(" http://127.0.0.1:8080/send?to=0xab&amount=2.5 "),
            ("0xab".to_string(), Some("2.5".to_string()))
        );
        assert_eq!(read_recipient("0xab"), ("0xab".to_string(), None));
        assert_eq!(
            read_recipient("http://x/send?to=0xab"),
            ("0xab".to_string(), None)
        );
        assert_eq!(
            read_recipient("ethereum:0xab@1?value=1e18"),
            ("0xab".to_string(), None)
        );
        assert_eq!(read_recipient("ethereum:0xab"), ("0xab".to_string(), None));
    }
}
