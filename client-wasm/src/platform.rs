//! What differs between the native build and the browser's: the clock, timers, spawning tasks, and whether shared
//! things must be `Send`. Everything else in the crate is written once against these.

use std::{future::Future, time::Duration};

/// Bounds the native build needs for values shared across tokio's threads; the browser has one thread, and its
/// JavaScript handles are neither `Send` nor `Sync`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now() as u64
    }
}

/// Unix seconds.
pub(crate) fn now() -> u64 {
    now_ms() / 1000
}

/// A point `after` from now, for deadlines.
pub(crate) fn deadline(after: Duration) -> u64 {
    now_ms().saturating_add(after.as_millis() as u64)
}

pub(crate) fn passed(deadline: u64) -> bool {
    now_ms() >= deadline
}

pub(crate) async fn sleep(duration: Duration) {
    #[cfg(not(target_arch = "wasm32"))]
    tokio::time::sleep(duration).await;
    #[cfg(target_arch = "wasm32")]
    gloo_timers::future::sleep(duration).await;
}

/// Runs `future` to its end, or gives up at `deadline` (milliseconds since the epoch). `None` when it gave up.
pub(crate) async fn until<F: Future>(deadline: u64, future: F) -> Option<F::Output> {
    use futures_util::future::{select, Either};
    let wait = Duration::from_millis(deadline.saturating_sub(now_ms()));
    let future = std::pin::pin!(future);
    let timer = std::pin::pin!(sleep(wait));
    match select(future, timer).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}

/// Runs `future` in the background.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
    tokio::spawn(future);
}

/// Runs `future` in the background, on the page's event loop.
#[cfg(target_arch = "wasm32")]
pub(crate) fn spawn<F: Future<Output = ()> + 'static>(future: F) {
    wasm_bindgen_futures::spawn_local(future);
}
