//! Settings: the backup phrase, a password, importing another wallet, the node, burning the card, and the
//! force exit that takes the money out without the node.

use yew::prelude::*;

use super::{bind, problem};
use crate::{amount, app::use_ctx, service::Service};

fn confirm(question: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.confirm_with_message(question).ok())
        .unwrap_or(false)
}

#[function_component(Settings)]
pub fn settings() -> Html {
    let ctx = use_ctx();
    let encrypted = ctx.card.encrypted;
    let phrase = use_state(|| None::<String>);
    let phrase_password = use_state(String::new);
    let new_password = use_state(String::new);
    let import_phrase = use_state(String::new);
    let import_password = use_state(String::new);
    let node_url = use_state(|| ctx.service.node_url().to_string());
    let error = use_state(|| None::<String>);
    let done = use_state(|| None::<String>);

    let show_phrase = {
        let (service, phrase, password, error) = (
            ctx.service.clone(),
            phrase.clone(),
            phrase_password.clone(),
            error.clone(),
        );
        Callback::from(move |_| {
            if !confirm("Anyone who sees the phrase can take the card's money. Show it?") {
                return;
            }
            match service.phrase(&password) {
                Ok(p) => {
                    phrase.set(Some(p));
                    error.set(None);
                }
                Err(why) => error.set(Some(why)),
            }
        })
    };
    let set_password = {
        let (service, password, error, done) = (
            ctx.service.clone(),
            new_password.clone(),
            error.clone(),
            done.clone(),
        );
        Callback::from(move |_| match service.set_password(&password) {
            Ok(()) => {
                password.set(String::new());
                error.set(None);
                done.set(Some("The wallet is now sealed under the password.".into()));
            }
            Err(why) => error.set(Some(why)),
        })
    };
    let import = {
        let (service, words, password, error) = (
            ctx.service.clone(),
            import_phrase.clone(),
            import_password.clone(),
            error.clone(),
        );
        let balance = ctx.card.dai_balance();
        Callback::from(move |_| {
            if !balance.is_zero()
                && !confirm(&format!(
                    "This card holds {} Dai. Without its phrase it is lost. Replace the wallet?",
                    amount::format(balance, 4)
                ))
            {
                return;
            }
            let password = Some(password.as_str()).filter(|p| !p.is_empty());
            if let Err(why) = service.import(&words, password) {
                error.set(Some(why));
            }
        })
    };
    let save_node = {
        let (service, url, error) = (ctx.service.clone(), node_url.clone(), error.clone());
        Callback::from(move |_| {
            if let Err(why) = service.set_node_url(&url) {
                error.set(Some(why));
            }
        })
    };
    let burn = {
        let (service, error) = (ctx.service.clone(), error.clone());
        let balance = ctx.card.dai_balance();
        Callback::from(move |_| {
            let question = if balance.is_zero() {
                "Burn this card and start over with a new wallet?".to_string()
            } else {
                format!(
                    "This card holds {} Dai: it is lost unless you saved the backup phrase. Burn it?",
                    amount::format(balance, 4)
                )
            };
            if confirm(&question) {
                if let Err(why) = service.burn() {
                    error.set(Some(why));
                }
            }
        })
    };
    let force_exit = {
        let service = ctx.service.clone();
        Callback::from(move |_| {
            if confirm("Force exit disputes the channel on chain and pays its balance out without the node. It takes the challenge window and gas. Go on?") {
                Service::force_exit(&service);
            }
        })
    };
    html! {
        <section class="page settings">
            <h1>{ "Settings" }</h1>
            { problem((*error).clone()) }
            if let Some(message) = (*done).clone() { <p class="status done">{ message }</p> }

            <h2>{ "Backup phrase" }</h2>
            if let Some(words) = (*phrase).clone() {
                <p class="phrase" id="phrase">{ words }</p>
            } else {
                if encrypted {
                    <input id="phrase-password" type="password" placeholder="Password"
                           value={(*phrase_password).clone()} oninput={bind(&phrase_password)} />
                }
                <button id="show-phrase" onclick={show_phrase}>{ "Show the backup phrase" }</button>
            }

            <h2>{ "Password" }</h2>
            <p class="hint">{ if encrypted { "The wallet is sealed under a password. Set a new one:" } else { "Seal the wallet in this browser under a password:" } }</p>
            <input id="new-password" type="password" autocomplete="new-password"
                   value={(*new_password).clone()} oninput={bind(&new_password)} />
            <button id="set-password" onclick={set_password}>{ "Set password" }</button>

            <h2>{ "Import a wallet" }</h2>
            <textarea id="import-phrase" rows="3" placeholder="twelve or twenty-four words"
                      value={(*import_phrase).clone()} oninput={bind_area(&import_phrase)} />
            <input id="import-password" type="password" placeholder="Password (optional)"
                   value={(*import_password).clone()} oninput={bind(&import_password)} />
            <button id="import" onclick={import}>{ "Import" }</button>

            <h2>{ "Node" }</h2>
            <input id="node-url" value={(*node_url).clone()} oninput={bind(&node_url)} />
            <button id="save-node" onclick={save_node}>{ "Use this node" }</button>

            <h2>{ "Leave" }</h2>
            <button class="danger" id="force-exit" onclick={force_exit}>{ "Force exit (dispute on chain)" }</button>
            <button class="danger" id="burn" onclick={burn}>{ "Burn card" }</button>
        </section>
    }
}

fn bind_area(field: &UseStateHandle<String>) -> Callback<InputEvent> {
    let field = field.clone();
    Callback::from(move |e: InputEvent| {
        field.set(
            e.target_unchecked_into::<web_sys::HtmlTextAreaElement>()
                .value(),
        )
    })
}
