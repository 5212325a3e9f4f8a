//! History: the card's payments as the node records them, and its deposits and cash outs as the card saw them
//! on chain, newest first.

use spoke_protocol::wire::{PaymentRecord, PaymentStatus};
use yew::prelude::*;

use crate::{
    activity::{Entry, Kind},
    amount,
    app::use_ctx,
    service::short,
};

/// One line of History: a payment, or something the card did on chain.
enum Line<'a> {
    Payment(&'a PaymentRecord),
    Chain(&'a Entry),
}

impl Line<'_> {
    fn at(&self) -> u64 {
        match self {
            Line::Payment(p) => p.created_at,
            Line::Chain(e) => e.at,
        }
    }
}

#[function_component(History)]
pub fn history() -> Html {
    let ctx = use_ctx();
    let card = &ctx.card;
    let Some(me) = card.address else {
        return html! {};
    };
    let mut lines: Vec<Line<'_>> = card
        .history
        .iter()
        .map(Line::Payment)
        .chain(card.chain_log.iter().map(Line::Chain))
        .collect();
    // Stable: lines of the same second keep each source's own newest-first order.
    lines.sort_by_key(|line| std::cmp::Reverse(line.at()));
    let rows = lines.iter().map(|line| match line {
        Line::Payment(p) => {
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
        }
        Line::Chain(e) => {
            let (class, what, sign) = match e.kind {
                Kind::Deposit => ("received chain", "Deposit", "+"),
                Kind::CashOut => ("sent chain", "Cash out", "−"),
            };
            html! {
                <li class={class} title={e.tx.to_string()}>
                    <span class="who">{ format!("{what} {}", e.detail) }</span>
                    <span class="amount">{ sign }{ amount::format(e.amount, 4) }</span>
                    <span class="state">{ "on chain" }</span>
                </li>
            }
        }
    });
    html! {
        <section class="page history">
            <h1>{ "History" }</h1>
            if lines.is_empty() {
                <p class="hint">{ "Nothing yet." }</p>
            } else {
                <ul id="history">{ for rows }</ul>
            }
        </section>
    }
}
