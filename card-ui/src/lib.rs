//! The Spoke Card: a web wallet in the manner of the Dai Card. It opens with a wallet made in the page, takes
//! deposits, pays anyone on its node at once, makes and redeems payment links, and cashes out — on
//! spoke-client's Rust API, in one Yew app the node serves.
//!
//! Layout: [`state`] holds the whole card and its reducer; [`service`] runs what pages ask for and reports each
//! step; `pages/` has one file per screen and no protocol logic.

mod activity;
mod amount;
mod app;
mod pages;
mod qr;
mod route;
mod scan;
mod service;
mod state;
mod web;

pub use app::App;
pub use route::PATHS;

/// Starts the card on the page's `<body>`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    yew::Renderer::<App>::new().render();
}
