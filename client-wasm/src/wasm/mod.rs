//! The JavaScript API of the npm package `spoke-client`: [`SpokeWallet`](wallet::JsWallet),
//! [`SpokeClient`](client::JsClient) and its [`Eip1193Provider`](provider::JsProvider). Every method returns a
//! promise or a value, never panics across the boundary: failures become `Error` objects with a stable `code`.
//! The TypeScript types of the objects passed in and out are in `types.d.ts`, emitted into the package's `.d.ts`.

#[cfg(feature = "js")]
mod client;
#[cfg(feature = "js")]
mod convert;
#[cfg(feature = "js")]
mod provider;
mod storage;
#[cfg(feature = "js")]
mod wallet;

pub use storage::JsStorage;

#[cfg(feature = "js")]
#[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.d.ts");
