//! The card is sealed under a password: ask for it.

use yew::prelude::*;

use super::bind;
use crate::{app::use_ctx, service::Service};

#[derive(Properties, PartialEq)]
pub struct UnlockProps {
    pub error: Option<String>,
}

#[function_component(Unlock)]
pub fn unlock(props: &UnlockProps) -> Html {
    let ctx = use_ctx();
    let password = use_state(String::new);
    let submit = {
        let service = ctx.service.clone();
        let password = password.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            Service::start(&service, Some((*password).clone()));
        })
    };
    html! {
        <form class="page unlock" onsubmit={submit}>
            <h1>{ "Unlock your card" }</h1>
            <label>{ "Password" }
                <input id="unlock-password" type="password" autocomplete="current-password"
                       value={(*password).clone()} oninput={bind(&password)} />
            </label>
            { super::problem(props.error.clone()) }
            <button type="submit" id="unlock">{ "Unlock" }</button>
        </form>
    }
}
