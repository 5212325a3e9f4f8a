//! One HTTP exchange, JSON in and bytes out: reqwest natively, the page's (or Node.js's) `fetch` in wasm, where
//! reqwest would bring `url` and its IDNA tables for nothing.

use crate::Result;

/// An HTTP client. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Http {
    #[cfg(not(target_arch = "wasm32"))]
    client: reqwest::Client,
}

/// A status and a body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Retry-After` in whole seconds, when the answer has one.
    pub retry_after: Option<u64>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Http {
    /// A GET when `body` is `None`, else a POST of `body` as `application/json`.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn send(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Reply> {
        let mut request = match body {
            None => self.client.get(url),
            Some(body) => self
                .client
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_vec()),
        };
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| crate::Error::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok());
        let body = response
            .bytes()
            .await
            .map_err(|e| crate::Error::Transport(e.without_url().to_string()))?
            .to_vec();
        Ok(Reply {
            status,
            body,
            retry_after,
        })
    }

    #[cfg(target_arch = "wasm32")]
    pub async fn send(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Reply> {
        fetch::send(url, bearer, body).await
    }
}

#[cfg(target_arch = "wasm32")]
mod fetch {
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    use super::Reply;
    use crate::{Error, Result};

    #[wasm_bindgen::prelude::wasm_bindgen]
    extern "C" {
        /// The global `fetch`: `window.fetch` in a page, `globalThis.fetch` in a worker or Node.js 18+.
        #[wasm_bindgen(js_name = fetch)]
        fn global_fetch(request: &web_sys::Request) -> js_sys::Promise;
    }

    fn transport(e: JsValue) -> Error {
        Error::Transport(
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .or_else(|| e.as_string())
                .unwrap_or_else(|| "fetch failed".into()),
        )
    }

    pub(super) async fn send(
        url: &str,
        bearer: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Reply> {
        let init = web_sys::RequestInit::new();
        let headers = web_sys::Headers::new().map_err(transport)?;
        match body {
            None => init.set_method("GET"),
            Some(body) => {
                init.set_method("POST");
                headers
                    .set("content-type", "application/json")
                    .map_err(transport)?;
                let bytes = js_sys::Uint8Array::from(body);
                init.set_body(&bytes);
            }
        }
        if let Some(token) = bearer {
            headers
                .set("authorization", &format!("Bearer {token}"))
                .map_err(transport)?;
        }
        init.set_headers(&headers);
        let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(transport)?;
        let response: web_sys::Response = JsFuture::from(global_fetch(&request))
            .await
            .map_err(transport)?
            .dyn_into()
            .map_err(transport)?;
        let buffer = JsFuture::from(response.array_buffer().map_err(transport)?)
            .await
            .map_err(transport)?;
        Ok(Reply {
            status: response.status(),
            body: js_sys::Uint8Array::new(&buffer).to_vec(),
            retry_after: response
                .headers()
                .get("retry-after")
                .ok()
                .flatten()
                .and_then(|value| value.trim().parse().ok()),
        })
    }
}
