//! Deposit: the card's address to send Dai to, and moving what arrived into the channel.

use alloy_primitives::U256;
use yew::prelude::*;

use super::{bind, problem};
use crate::{amount, app::use_ctx, qr::Qr, service::Service, web};

/// Below this a deposit costs more gas than it is worth.
pub const MIN_DEPOSIT: U256 = U256::from_limbs([10_000_000_000_000_000, 0, 0, 0]);
/// The card is a hot wallet in a web page: it takes what one would carry in cash.
pub const MAX_DEPOSIT: U256 = U256::from_limbs([3_875_820_019_684_212_736, 54, 0, 0]);

#[function_component(Deposit)]
pub fn deposit() -> Html {
    let ctx = use_ctx();
    let card = &ctx.card;
    let typed = use_state(String::new);
    let Some(address) = card.address else {
        return html! {};
    };
    let on_chain = &card.on_chain;
    let wanted = if typed.is_empty() {
        Ok(on_chain.dai)
    } else {
        amount::parse(&typed)
    };
    let why_not = match &wanted {
        Err(why) => Some(why.clone()),
        Ok(a) if a.is_zero() => Some("Send Dai to the address above first.".into()),
        Ok(a) if *a > on_chain.dai => Some(format!(
            "Only {} Dai is at your address.",
            amount::format(on_chain.dai, 4)
        )),
        Ok(a) if *a < MIN_DEPOSIT => Some(format!(
            "The minimum is {} Dai.",
            amount::format(MIN_DEPOSIT, 2)
        )),
        Ok(a) if *a > MAX_DEPOSIT => Some(format!(
            "The maximum is {} Dai.",
            amount::format(MAX_DEPOSIT, 2)
        )),
        Ok(_) if on_chain.eth.is_zero() => {
            Some("Your address needs a little ETH to pay the deposit's gas.".into())
        }
        Ok(_) => None,
    };
    let deposit = {
        let service = ctx.service.clone();
        let typed = typed.clone();
        let amount = wanted.clone().ok();
        Callback::from(move |_| {
            if let Some(amount) = amount {
                Service::deposit(&service, amount);
                typed.set(String::new());
            }
        })
    };
    let copy = Callback::from(move |_| web::copy(&address.to_string()));
    let faucet = {
        let service = ctx.service.clone();
        Callback::from(move |_| Service::faucet(&service))
    };
    html! {
        <section class="page deposit">
            <h1>{ "Deposit" }</h1>
            <p>{ "Send Dai (and a little ETH for gas) to your card's address:" }</p>
            <Qr text={address.to_string()} />
            <p class="address-full"><code id="deposit-address">{ address.to_string() }</code>
                <button onclick={copy}>{ "Copy" }</button></p>
            <p class="hint">{ format!("Min {} Dai, max {} Dai.", amount::format(MIN_DEPOSIT, 2), amount::format(MAX_DEPOSIT, 0)) }</p>
            <p id="deposit-on-chain">{ format!("At your address: {} Dai, {} ETH",
                amount::format(on_chain.dai, 4), amount::format(on_chain.eth, 4)) }</p>
            if card.dev {
                <button id="faucet" onclick={faucet}>{ "Get test ETH and Dai (development node)" }</button>
            }
            <label>{ "Amount to move into the card (Dai)" }
                <input id="deposit-amount" inputmode="decimal" placeholder={amount::exact(on_chain.dai)}
                       value={(*typed).clone()} oninput={bind(&typed)} />
            </label>
            { problem(why_not.clone()) }
            <button id="deposit" disabled={why_not.is_some()} onclick={deposit}>{ "Deposit into the card" }</button>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_are_the_round_numbers_they_claim() {
        assert_eq!(amount::exact(MIN_DEPOSIT), "0.01");
        assert_eq!(amount::exact(MAX_DEPOSIT), "1000");
    }
}
