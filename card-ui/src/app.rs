//! The card's frame: the reducer, the service, the page the URL names, and the list of waits in progress.

use wasm_bindgen::{closure::Closure, JsCast};
use yew::prelude::*;

use crate::{
    amount, pages,
    route::Route,
    service::{short, Handle, Service},
    state::{Action, Card, Phase},
    web,
};

/// What every page gets: the state to show and the service to ask.
#[derive(Clone, PartialEq)]
pub struct Ctx {
    pub card: UseReducerHandle<Card>,
    pub service: Handle,
}

impl Ctx {
    /// Opens `route`, as a new entry of the browser's history.
    pub fn go(&self, route: Route) {
        web::push(&route);
        self.card.dispatch(Action::Navigate(route));
    }
}

#[function_component(App)]
pub fn app() -> Html {
    let card = use_reducer(|| Card::new(web::current_route()));
    let service = {
        let dispatcher = card.dispatcher();
        use_memo((), move |_| Service::open(dispatcher))
    };
    let service = match &*service {
        Ok(service) => service.clone(),
        Err(why) => return html! { <main class="card"><p class="error">{ why }</p></main> },
    };
    {
        let service = service.clone();
        use_effect_with((), move |_| Service::start(&service, None));
    }
    {
        let service = service.clone();
        let ready = card.phase == Phase::Ready;
        use_effect_with(ready, move |ready| {
            if *ready {
                Service::follow(&service);
            }
        });
    }
    {
        // The browser's back and forward buttons.
        let dispatcher = card.dispatcher();
        use_effect_with((), move |_| {
            let listener = Closure::<dyn Fn()>::new(move || {
                dispatcher.dispatch(Action::Navigate(web::current_route()))
            });
            if let Some(window) = web_sys::window() {
                let _ = window.add_event_listener_with_callback(
                    "popstate",
                    listener.as_ref().unchecked_ref(),
                );
            }
            // The card lives as long as the page.
            listener.forget();
        });
    }
    let ctx = Ctx {
        card: card.clone(),
        service,
    };
    let body = match &card.phase {
        Phase::Starting(step) => {
            html! { <p class="status working" id="starting">{ step }{ "…" }</p> }
        }
        Phase::Locked { error } => html! { <pages::unlock::Unlock error={error.clone()} /> },
        Phase::Failed(why) => html! {
            <div class="status failed" id="failed">
                <p>{ why }</p>
                <button onclick={Callback::from(|_| web::reload())}>{ "Try again" }</button>
            </div>
        },
        Phase::Ready => page(&card.route),
    };
    html! {
        <ContextProvider<Ctx> context={ctx}>
            <main class="card">
                <Header />
                <Notice />
                { body }
                <pages::tasks::Tasks />
            </main>
        </ContextProvider<Ctx>>
    }
}

fn page(route: &Route) -> Html {
    match route {
        Route::Home => html! { <pages::home::Home /> },
        Route::Deposit => html! { <pages::deposit::Deposit /> },
        Route::Send { to, amount } => {
            html! { <pages::send::Send to={to.clone()} amount={amount.clone()} /> }
        }
        Route::Request => html! { <pages::request::Request /> },
        Route::Redeem { secret } => html! { <pages::redeem::Redeem secret={secret.clone()} /> },
        Route::CashOut => html! { <pages::cash_out::CashOut /> },
        Route::Settings => html! { <pages::settings::Settings /> },
        Route::History => html! { <pages::history::History /> },
    }
}

#[function_component(Header)]
fn header() -> Html {
    let ctx = use_ctx();
    let card = &ctx.card;
    let home = {
        let ctx = ctx.clone();
        Callback::from(move |_| ctx.go(Route::Home))
    };
    html! {
        <header>
            <button class="brand" onclick={home}>{ "Spoke Card" }</button>
            if let Some(address) = card.address {
                <span class="address" title={address.to_string()}>{ short(&address) }</span>
            }
            <span class="balance" id="balance">{ amount::format(card.dai_balance(), 2) }{ " Dai" }</span>
        </header>
    }
}

#[function_component(Notice)]
fn notice() -> Html {
    let ctx = use_ctx();
    let Some(text) = ctx.card.notice.clone() else {
        return html! {};
    };
    let close = {
        let card = ctx.card.clone();
        Callback::from(move |_| card.dispatch(Action::Notice(None)))
    };
    html! {
        <div class="notice" id="notice" role="status">
            <span>{ text }</span>
            <button onclick={close} aria-label="Dismiss">{ "×" }</button>
        </div>
    }
}

/// The card's context, for pages.
#[hook]
pub fn use_ctx() -> Ctx {
    use_context::<Ctx>().expect("the card's context")
}
