//! Request: an amount gives a link (and its QR code) that opens Send on the payer's card, prefilled.

use yew::prelude::*;

use super::{bind, problem};
use crate::{amount, app::use_ctx, qr::Qr, route::Route, web};

#[function_component(Request)]
pub fn request() -> Html {
    let ctx = use_ctx();
    let typed = use_state(String::new);
    let Some(address) = ctx.card.address else {
        return html! {};
    };
    let wanted = amount::parse(&typed);
    let link = wanted.as_ref().ok().map(|a| {
        let route = Route::Send {
            to: address.to_string(),
            amount: amount::exact(*a),
        };
        format!("{}{}", ctx.service.node_url(), route.href())
    });
    let copy = {
        let link = link.clone();
        Callback::from(move |_| {
            if let Some(link) = &link {
                web::copy(link);
            }
        })
    };
    html! {
        <section class="page request">
            <h1>{ "Request" }</h1>
            <label>{ "Amount (Dai)" }
                <input id="request-amount" inputmode="decimal" value={(*typed).clone()} oninput={bind(&typed)} />
            </label>
            if let Some(link) = link {
                <Qr text={link.clone()} />
                <p class="link-out"><code id="request-link">{ link }</code>
                    <button onclick={copy}>{ "Copy" }</button></p>
                <p class="hint">{ "Whoever opens this link on their Spoke Card sees Send filled in." }</p>
            } else if !typed.is_empty() {
                { problem(wanted.err()) }
            }
        </section>
    }
}
