//! The node serving the card: its files, its page paths answered with `index.html` (so a request or redeem link
//! opens the card on that page), the Content-Security-Policy on all of them, and plain 404s for what is neither.

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
    routing::get,
    Router,
};
use http_body_util::BodyExt;
use spoke_node::server::{with_static_files, STATIC_CSP};
use tower::ServiceExt;

const INDEX: &str = "<!doctype html><title>card</title>";
const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

struct Answer {
    status: StatusCode,
    csp: Option<String>,
    body: String,
}

fn site() -> (tempfile::TempDir, Router) {
    let www = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(www.path().join("index.html"), INDEX).expect("index.html");
    std::fs::write(www.path().join("card.css"), "main{}").expect("card.css");
    std::fs::create_dir(www.path().join("admin")).expect("admin/");
    std::fs::write(www.path().join("admin/index.html"), "dashboard").expect("admin/index.html");
    let api = Router::new().route("/api/thing", get(|| async { "from the API" }));
    let router = with_static_files(api, www.path());
    (www, router)
}

async fn fetch(router: &Router, method: Method, uri: &str, accept: Option<&str>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).expect("a request"))
        .await
        .expect("the router answers");
    let status = response.status();
    let csp = response
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .map(|v| v.to_str().expect("an ASCII header").to_string());
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes();
    Answer {
        status,
        csp,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

#[tokio::test]
async fn the_card_s_page_paths_open_its_index_with_the_policy() {
    let (_www, router) = site();
    for uri in [
        "/",
        "/send?to=0x0000000000000000000000000000000000000001&amount=1.5",
        "/redeem?secret=0xabc",
        "/cash-out",
        "/settings/",
        "/a-page-the-card-does-not-know",
    ] {
        let answer = fetch(&router, Method::GET, uri, Some(HTML)).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        assert_eq!(answer.body, INDEX, "{uri}");
        assert_eq!(answer.csp.as_deref(), Some(STATIC_CSP), "{uri}");
    }
    let head = fetch(&router, Method::HEAD, "/deposit", Some(HTML)).await;
    assert_eq!(head.status, StatusCode::OK);
}

#[tokio::test]
async fn files_are_served_as_they_are_and_directories_by_their_index() {
    let (_www, router) = site();
    let css = fetch(&router, Method::GET, "/card.css", None).await;
    assert_eq!((css.status, css.body.as_str()), (StatusCode::OK, "main{}"));
    assert_eq!(css.csp.as_deref(), Some(STATIC_CSP));
    let admin = fetch(&router, Method::GET, "/admin/", Some(HTML)).await;
    assert_eq!(
        (admin.status, admin.body.as_str()),
        (StatusCode::OK, "dashboard")
    );
}

#[tokio::test]
async fn what_is_neither_a_file_nor_a_page_is_a_plain_404() {
    let (_www, router) = site();
    // A missing file is not answered with the page, even for a browser.
    let wasm = fetch(&router, Method::GET, "/spoke_card_bg.wasm", Some(HTML)).await;
    assert_eq!(wasm.status, StatusCode::NOT_FOUND);
    assert_ne!(wasm.body, INDEX);
    // A program calling a path that is no route (it does not ask for HTML) is told so.
    let json = fetch(&router, Method::GET, "/api/typo", Some("application/json")).await;
    assert_eq!(json.status, StatusCode::NOT_FOUND);
    let none = fetch(&router, Method::GET, "/send", None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    // Only reads open a page.
    let post = fetch(&router, Method::POST, "/send", Some(HTML)).await;
    assert_ne!(post.status, StatusCode::OK);
    assert_ne!(post.body, INDEX);
    // Nothing outside the folder.
    let outside = fetch(&router, Method::GET, "/../Cargo.toml", Some(HTML)).await;
    assert_ne!(outside.status, StatusCode::OK);
}

#[tokio::test]
async fn the_api_keeps_its_routes() {
    let (_www, router) = site();
    let api = fetch(&router, Method::GET, "/api/thing", Some(HTML)).await;
    assert_eq!(
        (api.status, api.body.as_str()),
        (StatusCode::OK, "from the API")
    );
}
