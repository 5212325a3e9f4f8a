//! History: the card's payments, newest first, as the node records them.

use spoke_protocol::wire::PaymentStatus;
use yew::prelude::*;

use crate::{amount, app::use_ctx, service::short};

#[function_component(History)]
pub fn history() -> Html {
    let ctx = use_ctx();
    let card = &ctx.card;
    let Some(me) = card.address else {
        return html! {};
    };
    let rows = card.history.iter().map(|p| {
        let sent = p.payer == me;
        let other = if sent { p.payee } else { Some(p.payer) };
        let who = match other {
            Some(a) => short(&a),
            None => "a link".into(),
        };
        let status = match p.status {
            PaymentStatus::Completed => "done",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Refunding => "going back",
            _ => "in flight",
        };
        html! {
            <li class={if sent { "sent" } else { "received" }}>
                <span class="who">{ if sent { format!("To {who}") } else { format!("From {who}") } }</span>
                <span class="amount">{ if sent { "−" } else { "+" } }{ amount::format(p.amount, 4) }</span>
                <span class="state">{ status }</span>
            </li>
        }
    });
    html! {
        <section class="page history">
            <h1>{ "History" }</h1>
            if card.history.is_empty() {
                <p class="hint">{ "No payments yet." }</p>
            } else {
                <ul id="history">{ for rows }</ul>
            }
        </section>
    }
}
