//! Home: the balance, and the four things to do with it.

use yew::prelude::*;

use super::go;
use crate::{amount, app::use_ctx, route::Route};

#[function_component(Home)]
pub fn home() -> Html {
    let ctx = use_ctx();
    let card = &ctx.card;
    let on_chain = &card.on_chain;
    let send = Route::Send {
        to: String::new(),
        amount: String::new(),
    };
    html! {
        <section class="page home">
            <div class="big-balance">
                <span id="dai-balance">{ amount::format(card.dai_balance(), 2) }</span>{ " Dai" }
                <small id="eth-balance">{ amount::format(card.eth_balance(), 4) }{ " ETH" }</small>
            </div>
            if !on_chain.dai.is_zero() {
                <p class="hint" id="on-chain">
                    { format!("{} Dai is at your address, not yet in the card: ", amount::format(on_chain.dai, 2)) }
                    <button class="link" onclick={go(&ctx, Route::Deposit)}>{ "deposit it" }</button>
                </p>
            }
            <nav class="actions">
                <button id="go-deposit" onclick={go(&ctx, Route::Deposit)}>{ "Deposit" }</button>
                <button id="go-send" onclick={go(&ctx, send)}>{ "Send" }</button>
                <button id="go-request" onclick={go(&ctx, Route::Request)}>{ "Request" }</button>
                <button id="go-cash-out" onclick={go(&ctx, Route::CashOut)}>{ "Cash out" }</button>
            </nav>
            <nav class="more">
                <button class="link" id="go-history" onclick={go(&ctx, Route::History)}>{ "History" }</button>
                <button class="link" id="go-settings" onclick={go(&ctx, Route::Settings)}>{ "Settings" }</button>
            </nav>
        </section>
    }
}
