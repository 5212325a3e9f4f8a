//! Everything the card is doing or did lately, each with its step: no wait is ever a silent spinner.

use yew::prelude::*;

use crate::{app::use_ctx, state::Status, web};

#[function_component(Tasks)]
pub fn tasks() -> Html {
    let ctx = use_ctx();
    if ctx.card.tasks.is_empty() {
        return html! {};
    }
    let items = ctx.card.tasks.iter().map(|task| {
        let (class, text) = match &task.status {
            Status::Working(step) => ("working", step),
            Status::Done(done) => ("done", done),
            Status::Failed(why) => ("failed", why),
        };
        let link = task.link.clone().map(|link| {
            let copy = {
                let link = link.clone();
                Callback::from(move |_| web::copy(&link))
            };
            html! { <p><code class="task-link">{ link }</code><button onclick={copy}>{ "Copy" }</button></p> }
        });
        html! {
            <li class={classes!("task", class)} id={format!("task-{}", task.id)} data-status={class}>
                <strong>{ &task.title }</strong>
                <span class="step">{ text }</span>
                { for link }
            </li>
        }
    });
    html! {
        <section class="tasks" aria-live="polite">
            <h2>{ "Activity" }</h2>
            <ul>{ for items }</ul>
        </section>
    }
}
