//! `spoke-node dev` as a user runs it: a child process on free ports, its ready line, the API and the card over
//! HTTP, test Dai on chain, the faucet and the RPC proxy, and nothing left running after SIGTERM.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use alloy::{
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    transports::http::reqwest,
};
use serde_json::Value;
use spoke_contracts::{bindings::DevDai, http_provider};
use spoke_protocol::{Address, U256};

/// Anvil's account 0, the node's key in `spoke-node dev`: it must never be printed.
const NODE_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The child, stopped with SIGTERM (so it stops anvil) when the test ends, however it ends.
struct Dev {
    child: Child,
}

impl Dev {
    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits for the exit; `None` if it has not exited after `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
            if self.wait(Duration::from_secs(15)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

struct Response {
    status: u16,
    headers: String,
    body: String,
}

/// A plain HTTP/1.1 GET on a fresh connection.
fn get(port: u16, path: &str) -> Response {
    get_with(port, path, "")
}

/// [`get`] with `headers` (each line ending in CRLF) added to the request.
fn get_with(port: u16, path: &str, headers: &str) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{headers}\r\n"
    )
    .expect("request");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    Response {
        status,
        headers: headers.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// `spoke-node dev` on `port` and `chain_port` with its data under `dir`, up to its ready line: the child, the
/// line's JSON and everything it printed.
fn start_dev(port: u16, chain_port: u16, dir: &Path, www: &Path) -> (Dev, Value, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_spoke-node"))
        .args(["dev", "--accounts", "2", "--challenge-window", "600"])
        .args(["--port", &port.to_string()])
        .args(["--chain-port", &chain_port.to_string()])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--www-dir")
        .arg(www)
        // The token is the run's own random one.
        .env_remove("SPOKE_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spoke-node dev starts");
    let mut dev = Dev { child };

    let stdout = dev.child.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut printed = String::new();
    let ready: Value = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines_rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no SPOKE_DEV line; printed so far:\n{printed}"));
        printed.push_str(&line);
        printed.push('\n');
        if let Some(json) = line.strip_prefix("SPOKE_DEV ") {
            break serde_json::from_str(json).expect("the ready line is JSON");
        }
    };
    (dev, ready, printed)
}

#[tokio::test]
async fn dev_serves_the_node_and_chain_and_stops_both() {
    let dir = tempfile::tempdir().expect("temp dir");
    let www = dir.path().join("www");
    std::fs::create_dir(&www).expect("www");
    std::fs::write(www.join("index.html"), "<!doctype html><title>card</title>").expect("index");
    std::fs::create_dir(www.join("admin")).expect("admin");
    std::fs::write(
        www.join("admin/index.html"),
        "<!doctype html><title>dashboard</title>",
    )
    .expect("dashboard");
    std::fs::write(www.join("admin/admin.js"), "export {};").expect("script");
    let (port, chain_port) = (free_port(), free_port());
    let (mut dev, ready, printed) = start_dev(port, chain_port, dir.path(), &www);
    assert!(
        !printed.to_ascii_lowercase().contains(NODE_KEY),
        "the node's key was printed"
    );
    assert!(
        printed.contains(&format!("http://127.0.0.1:{port}")),
        "{printed}"
    );

    assert_eq!(ready["nodeUrl"], format!("http://127.0.0.1:{port}"));
    assert_eq!(ready["cardUrl"], format!("http://127.0.0.1:{port}/"));
    assert_eq!(ready["rpcUrl"], format!("http://127.0.0.1:{chain_port}"));
    assert_eq!(ready["chainId"], 31337);
    assert_eq!(ready["challengeWindow"], 600);
    let accounts = ready["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 2);

    let health = get(port, "/health");
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(
        !health.headers.contains("content-security-policy"),
        "API answers carry no page policy"
    );
    let config = get(port, "/config");
    assert_eq!(config.status, 200, "{}", config.body);
    let config: Value = serde_json::from_str(&config.body).expect("config JSON");
    assert_eq!(config["chainId"], 31337);
    let same = |a: &Value, b: &Value| {
        a.as_str().map(str::to_lowercase) == b.as_str().map(str::to_lowercase)
    };
    assert!(
        same(&config["channelManager"], &ready["channelManager"]),
        "{config}"
    );
    assert!(same(&config["node"], &ready["node"]), "{config}");

    let card = get(port, "/");
    assert_eq!(card.status, 200);
    assert!(card.body.contains("<title>card</title>"));
    assert!(
        card.headers.contains(
            "content-security-policy: default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        ),
        "{}",
        card.headers
    );

    // The admin API is on with the printed token; the dashboard's files under /admin/ are the static files', not
    // the API's (whose routes are /admin/<name> without a file extension).
    let token = ready["adminToken"].as_str().expect("adminToken");
    assert!(
        token.len() == 64 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    assert!(
        printed.contains(token),
        "the token is printed for the operator"
    );
    assert_eq!(
        ready["dashboardUrl"],
        format!("http://127.0.0.1:{port}/admin/")
    );
    let summary = get_with(
        port,
        "/admin/summary",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(summary.status, 200, "{}", summary.body);
    let summary: Value = serde_json::from_str(&summary.body).expect("summary JSON");
    assert_eq!(summary["channels"], 0, "{summary}");
    assert_eq!(get(port, "/admin/summary").status, 401);
    let wrong = get_with(
        port,
        "/admin/summary",
        "Authorization: Bearer 0123456789abcdef0123456789abcdef\r\n",
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    for (path, text) in [
        ("/admin/", "<title>dashboard</title>"),
        ("/admin/index.html", "<title>dashboard</title>"),
        ("/admin/admin.js", "export {};"),
    ] {
        let page = get(port, path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains(text), "{path}: {}", page.body);
        assert!(
            page.headers
                .contains("content-security-policy: default-src 'self'"),
            "{path}: {}",
            page.headers
        );
    }

    // A development account holds its test Dai, and its key is the one printed.
    let key: PrivateKeySigner = accounts[0]["privateKey"]
        .as_str()
        .expect("key")
        .parse()
        .expect("a key");
    let address: Address = accounts[0]["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("an address");
    assert_eq!(key.address(), address);
    let rpc = ready["rpcUrl"].as_str().expect("rpc url");
    let provider = http_provider(rpc, key).expect("provider");
    let dai: Address = ready["dai"]
        .as_str()
        .expect("dai")
        .parse()
        .expect("address");
    let balance = DevDai::new(dai, provider)
        .balanceOf(address)
        .call()
        .await
        .expect("balance");
    assert_eq!(
        balance,
        U256::from(1000u64) * U256::from(10u64).pow(U256::from(18u64))
    );

    dev.terminate();
    let status = dev
        .wait(Duration::from_secs(30))
        .expect("spoke-node dev stops on SIGTERM");
    assert!(status.success(), "{status}");
    assert!(port_is_free(chain_port), "anvil is gone");
    assert!(port_is_free(port), "the node is gone");
}

/// A JSON POST to the node; the status, the `Retry-After` header and the body as JSON.
async fn post_json(url: &str, body: &str) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the node answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, retry_after, body)
}

#[tokio::test]
async fn dev_faucet_funds_a_fresh_address_once_per_cool_down_and_serves_the_rpc_proxy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, chain_port) = (free_port(), free_port());
    let (mut dev, ready, printed) =
        start_dev(port, chain_port, dir.path(), &dir.path().join("no-www"));
    let node = format!("http://127.0.0.1:{port}");
    assert_eq!(ready["faucetUrl"], format!("{node}/dev/faucet"));
    assert_eq!(ready["rpcProxyUrl"], format!("{node}/rpc"));
    assert!(printed.contains(&format!("{node}/dev/faucet")), "{printed}");
    assert!(printed.contains(&format!("{node}/rpc")), "{printed}");
    let funder: Address = ready["faucetFunder"]
        .as_str()
        .expect("funder")
        .parse()
        .expect("an address");
    let printed_accounts: Vec<&str> = ready["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .filter_map(|a| a["address"].as_str())
        .collect();
    assert!(
        !printed_accounts.contains(&funder.to_string().as_str()),
        "the funder is an account of its own"
    );
    assert_ne!(ready["node"], funder.to_string());
    // A GET describes the faucet (the card learns from it that it is on a development node).
    let described = get(port, "/dev/faucet");
    assert_eq!(described.status, 200, "{}", described.body);
    let described: Value = serde_json::from_str(&described.body).expect("the faucet's JSON");
    assert_eq!(described["funder"], funder.to_checksum(None), "{described}");
    assert_eq!(described["dai"], "100000000000000000000", "{described}");
    assert_eq!(described["coolDownSeconds"], 10, "{described}");

    let chain = ProviderBuilder::new().connect_http(
        ready["rpcUrl"]
            .as_str()
            .expect("rpc url")
            .parse()
            .expect("url"),
    );
    let dai_token: Address = ready["dai"]
        .as_str()
        .expect("dai")
        .parse()
        .expect("address");
    let dai = DevDai::new(dai_token, &chain);
    let wallet = PrivateKeySigner::random().address();
    let funder_nonce = chain.get_transaction_count(funder).await.expect("nonce");

    // The proxy is on in dev: it answers reads and refuses the chain's test methods.
    let rpc = format!("{node}/rpc");
    let (status, _, answer) = post_json(
        &rpc,
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#,
    )
    .await;
    assert_eq!(
        (status, &answer["result"]),
        (200, &Value::from("0x7a69")),
        "{answer}"
    );
    let set_balance = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"anvil_setBalance","params":["{wallet}","0x1"]}}"#
    );
    let (status, _, answer) = post_json(&rpc, &set_balance).await;
    assert_eq!(status, 200);
    assert_eq!(answer["error"]["code"], -32601, "{answer}");

    // Bad addresses: 400 in the API's error shape, and nothing sent.
    let faucet = format!("{node}/dev/faucet");
    let checksummed = wallet.to_checksum(None);
    let miscased: String = {
        // One letter's case flipped: still hex, but no longer the checksum.
        let mut chars: Vec<char> = checksummed.chars().collect();
        let i = (2..chars.len())
            .find(|&i| chars[i].is_ascii_alphabetic())
            .expect("a letter");
        chars[i] = if chars[i].is_ascii_uppercase() {
            chars[i].to_ascii_lowercase()
        } else {
            chars[i].to_ascii_uppercase()
        };
        chars.into_iter().collect()
    };
    for body in [
        r#"{"address":"0x1234"}"#.to_string(),
        r#"{"address":"not an address"}"#.to_string(),
        format!(r#"{{"address":"{miscased}"}}"#),
        format!(r#"{{"address":"{checksummed}","amount":"1000"}}"#),
        r#"{}"#.to_string(),
    ] {
        let (status, _, answer) = post_json(&faucet, &body).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["code"], "BAD_REQUEST", "{answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    assert_eq!(
        chain.get_transaction_count(funder).await.expect("nonce"),
        funder_nonce,
        "a bad request sent nothing"
    );
    assert!(chain.get_balance(wallet).await.expect("balance").is_zero());

    // A fresh address gets ETH and Dai, on chain, once both are mined.
    let one_eth = U256::from(10u64).pow(U256::from(18u64));
    let hundred_dai = U256::from(100u64) * one_eth;
    let (status, _, answer) = post_json(
        &faucet,
        &format!(r#"{{"address":"{}"}}"#, wallet.to_string().to_lowercase()),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["address"], checksummed);
    assert_eq!(answer["eth"], one_eth.to_string());
    assert_eq!(answer["dai"], hundred_dai.to_string());
    let txs = answer["txs"].as_array().expect("txs");
    assert_eq!(txs.len(), 2, "{answer}");
    for tx in txs {
        let hash = tx.as_str().expect("hash").parse().expect("a hash");
        let receipt = chain
            .get_transaction_receipt(hash)
            .await
            .expect("receipt read")
            .expect("mined before the answer");
        assert!(receipt.status(), "{hash} succeeded");
        assert_eq!(receipt.from, funder);
    }
    assert_eq!(chain.get_balance(wallet).await.expect("balance"), one_eth);
    assert_eq!(
        dai.balanceOf(wallet).call().await.expect("dai"),
        hundred_dai
    );
    assert_eq!(
        chain.get_transaction_count(funder).await.expect("nonce"),
        funder_nonce + 2
    );

    // Again at once, however the address is spelled: 429, nothing sent.
    for spelling in [checksummed.clone(), wallet.to_string().to_lowercase()] {
        let (status, retry_after, answer) =
            post_json(&faucet, &format!(r#"{{"address":"{spelling}"}}"#)).await;
        assert_eq!(status, 429, "{answer}");
        assert_eq!(answer["code"], "TOO_MANY_REQUESTS", "{answer}");
        let retry_after: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
        assert!((1..=10).contains(&retry_after), "{retry_after}");
    }
    assert_eq!(chain.get_balance(wallet).await.expect("balance"), one_eth);
    assert_eq!(
        dai.balanceOf(wallet).call().await.expect("dai"),
        hundred_dai
    );
    assert_eq!(
        chain.get_transaction_count(funder).await.expect("nonce"),
        funder_nonce + 2
    );

    dev.terminate();
    let status = dev
        .wait(Duration::from_secs(30))
        .expect("spoke-node dev stops on SIGTERM");
    assert!(status.success(), "{status}");
}

#[test]
fn a_busy_chain_port_is_a_clear_error() {
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let chain_port = busy.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_spoke-node"))
        .args(["dev", "--port", &free_port().to_string()])
        .args(["--chain-port", &chain_port.to_string()])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{chain_port} is busy")),
        "{stderr}"
    );
    assert!(stderr.contains("--chain-port"), "{stderr}");
}

#[test]
fn a_short_admin_token_is_a_clear_error_that_does_not_repeat_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_spoke-node"))
        .args(["dev", "--port", &free_port().to_string()])
        .args(["--chain-port", &free_port().to_string()])
        .arg("--data-dir")
        .arg(dir.path())
        .env("SPOKE_ADMIN_TOKEN", "tooshort-secret")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SPOKE_ADMIN_TOKEN"), "{stderr}");
    assert!(stderr.contains("at least 16 characters"), "{stderr}");
    assert!(!stderr.contains("tooshort-secret"), "{stderr}");
    assert!(
        !dir.path().join("anvil.log").exists(),
        "refused before the chain started"
    );
}
