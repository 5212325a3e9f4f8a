//! The few browser calls the card makes itself: the page's URL and history, a reload, the clipboard, `fetch` to
//! its own node, a timer. Everything about channels goes through spoke-client.

use std::{sync::Arc, time::Duration};

use spoke_client::KeyValue;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::route::Route;

/// The page's origin, such as `http://127.0.0.1:8080`: the node that served the card.
pub fn origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// The page the browser is on.
pub fn current_route() -> Route {
    let Some(location) = web_sys::window().map(|w| w.location()) else {
        return Route::Home;
    };
    let path = location.pathname().unwrap_or_default();
    let search = location.search().unwrap_or_default();
    Route::parse(&path, search.trim_start_matches('?'))
}

/// Shows `route`'s URL in the address bar, as a new history entry.
pub fn push(route: &Route) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.push_state_with_url(&JsValue::NULL, "", Some(&route.href()));
    }
}

pub fn reload() {
    if let Some(window) = web_sys::window() {
        let _ = window.location().reload();
    }
}

pub fn copy(text: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(text);
    }
}

pub async fn sleep(duration: Duration) {
    gloo_timers::future::sleep(duration).await;
}

/// The page's `localStorage`, where the wallet and the channel are kept.
#[cfg(target_arch = "wasm32")]
pub fn storage() -> Result<Arc<dyn KeyValue>, String> {
    spoke_client::BrowserStorage::local()
        .map(|s| Arc::new(s) as Arc<dyn KeyValue>)
        .map_err(|e| format!("this browser keeps no local storage for the card: {e}"))
}

/// Natively (the card's unit tests) there is no browser: memory stands in.
#[cfg(not(target_arch = "wasm32"))]
pub fn storage() -> Result<Arc<dyn KeyValue>, String> {
    Ok(Arc::new(spoke_client::MemoryKv::new()))
}

/// The time on the page's clock, for deadlines.
pub fn now() -> Duration {
    Duration::from_secs_f64(js_sys::Date::now() / 1000.0)
}

/// `unix_seconds` as the reader's local date and time, as their browser writes it.
pub fn local_time(unix_seconds: u64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(unix_seconds as f64 * 1000.0));
    String::from(date.to_locale_string("default", &JsValue::UNDEFINED))
}

/// An HTTP answer: its status and body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// What a JavaScript exception says: an `Error`'s message (a `DOMException` is one), else a general word.
pub fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| "no answer".into())
}

/// `fetch(url)` with an optional JSON body; `Err` only when nothing came back.
pub async fn fetch(method: &str, url: &str, json: Option<&str>) -> Result<Answer, String> {
    let unreachable = |e: JsValue| format!("cannot reach the node: {}", describe(&e));
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(json) = json {
        init.set_body(&JsValue::from_str(json));
        let headers = web_sys::Headers::new().map_err(unreachable)?;
        headers
            .set("content-type", "application/json")
            .map_err(unreachable)?;
        init.set_headers(&headers);
    }
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(unreachable)?;
    let window = web_sys::window().ok_or("no browser window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(unreachable)?
        .unchecked_into();
    let text = JsFuture::from(response.text().map_err(unreachable)?)
        .await
        .map_err(unreachable)?;
    Ok(Answer {
        status: response.status(),
        body: text.as_string().unwrap_or_default(),
    })
}
