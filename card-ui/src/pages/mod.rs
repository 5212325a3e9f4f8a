//! One file per screen. A page reads the card's state, keeps its own form fields, and hands intents to the
//! service; it holds no protocol logic.

pub mod cash_out;
pub mod deposit;
pub mod history;
pub mod home;
pub mod redeem;
pub mod request;
pub mod send;
pub mod settings;
pub mod tasks;
pub mod unlock;

use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::{app::Ctx, route::Route};

/// A form field's text, kept in the page's state as the person types.
pub fn bind(field: &UseStateHandle<String>) -> Callback<InputEvent> {
    let field = field.clone();
    Callback::from(move |e: InputEvent| {
        field.set(e.target_unchecked_into::<HtmlInputElement>().value())
    })
}

/// A checkbox, kept in the page's state.
pub fn bind_check(field: &UseStateHandle<bool>) -> Callback<Event> {
    let field = field.clone();
    Callback::from(move |e: Event| {
        field.set(e.target_unchecked_into::<HtmlInputElement>().checked())
    })
}

/// A button that opens `route`.
pub fn go(ctx: &Ctx, route: Route) -> Callback<MouseEvent> {
    let ctx = ctx.clone();
    Callback::from(move |_| ctx.go(route.clone()))
}

/// A line under a form: why it cannot be sent yet.
pub fn problem(text: Option<String>) -> Html {
    match text {
        Some(text) => html! { <p class="problem" role="alert">{ text }</p> },
        None => html! {},
    }
}
