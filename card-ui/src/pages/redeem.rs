//! Redeem (`/redeem?secret=…`): takes a payment link's Dai into this card, and says how it ended.

use yew::prelude::*;

use super::bind;
use crate::{app::use_ctx, route::Route, service::Service, state::Status};

#[derive(Properties, PartialEq)]
pub struct RedeemProps {
    pub secret: String,
}

#[function_component(Redeem)]
pub fn redeem(props: &RedeemProps) -> Html {
    let ctx = use_ctx();
    let task = use_state(|| None::<u32>);
    let pasted = use_state(String::new);
    {
        let service = ctx.service.clone();
        let task = task.clone();
        use_effect_with(props.secret.clone(), move |secret| {
            if !secret.is_empty() {
                task.set(Some(Service::redeem(&service, secret)));
            }
        });
    }
    let redeem_pasted = {
        let ctx = ctx.clone();
        let pasted = pasted.clone();
        Callback::from(move |_| {
            let text = pasted.trim();
            let secret = match text.split_once("/redeem?") {
                Some((_, query)) => match Route::parse("/redeem", query) {
                    Route::Redeem { secret } => secret,
                    _ => String::new(),
                },
                None => text.to_string(),
            };
            ctx.go(Route::Redeem { secret });
        })
    };
    let status = task
        .and_then(|id| ctx.card.task(id))
        .map(|t| t.status.clone());
    let (class, text) = match &status {
        Some(Status::Working(step)) => ("status working", step.clone()),
        Some(Status::Done(done)) => ("status done", done.clone()),
        Some(Status::Failed(why)) => ("status failed", why.clone()),
        None => ("status", String::new()),
    };
    html! {
        <section class="page redeem">
            <h1>{ "Redeem a link" }</h1>
            if props.secret.is_empty() {
                <label>{ "Paste the link" }
                    <input id="redeem-link" value={(*pasted).clone()} oninput={bind(&pasted)} />
                </label>
                <button id="redeem" onclick={redeem_pasted}>{ "Redeem" }</button>
            } else {
                <p class={class} id="redeem-status" role="status">{ text }</p>
            }
        </section>
    }
}
