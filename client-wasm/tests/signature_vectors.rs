//! The native half of the signature vectors (the browser half is in `browser.rs`).
#![cfg(not(target_arch = "wasm32"))]

mod vectors;

#[test]
fn native_signatures_match_the_vectors() {
    vectors::check();
}
