//! Cash out: Dai out of the card to any address, optionally sold for ETH at the node's quote first.

use yew::prelude::*;

use super::{bind, bind_check, problem};
use crate::{amount, app::use_ctx, service::Service};

#[function_component(CashOut)]
pub fn cash_out() -> Html {
    let ctx = use_ctx();
    let card = &ctx.card;
    let to = use_state(String::new);
    let typed = use_state(String::new);
    let as_eth = use_state(|| false);
    let balance = card.dai_balance();
    let recipient = if to.trim().is_empty() {
        Err("Enter the address to send to (0x and 40 hex digits).".to_string())
    } else {
        // The checksum catches a mistyped character: a withdrawal to the wrong address cannot be undone.
        spoke_protocol::parse_address(&to).map_err(|e| format!("Check the address: {e}."))
    };
    let wanted = if typed.is_empty() {
        Ok(balance).and_then(|b| {
            if b.is_zero() {
                Err("The card is empty.".to_string())
            } else {
                Ok(b)
            }
        })
    } else {
        amount::parse_at_most(&typed, balance)
    };
    let why_not = recipient.clone().err().or_else(|| wanted.clone().err());
    let cash_out = {
        let service = ctx.service.clone();
        let ready = recipient.clone().ok().zip(wanted.clone().ok());
        let as_eth = *as_eth;
        let typed = typed.clone();
        Callback::from(move |_| {
            if let Some((to, amount)) = ready {
                Service::cash_out(&service, to, amount, as_eth);
                typed.set(String::new());
            }
        })
    };
    html! {
        <section class="page cash-out">
            <h1>{ "Cash out" }</h1>
            <label>{ "To address" }
                <input id="cash-out-to" placeholder="0x…" value={(*to).clone()} oninput={bind(&to)} />
            </label>
            <label>{ format!("Amount (Dai; empty for all {})", amount::format(balance, 4)) }
                <input id="cash-out-amount" inputmode="decimal" value={(*typed).clone()} oninput={bind(&typed)} />
            </label>
            <label class="check">
                <input id="cash-out-eth" type="checkbox" checked={*as_eth} onchange={bind_check(&as_eth)} />
                { "Receive ETH: sell the Dai to the node at its quoted rate" }
            </label>
            { problem(why_not.clone()) }
            <button id="cash-out" disabled={why_not.is_some()} onclick={cash_out}>{ "Cash out" }</button>
            <p class="hint">{ "The node sends the withdrawal to the chain and pays its gas." }</p>
        </section>
    }
}
