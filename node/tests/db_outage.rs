//! The node's PostgreSQL goes away and comes back (the security test plan's C5). While it is down, a request that
//! needs it is answered 503 STORE_UNAVAILABLE within the pool's acquire timeout, and nothing is stored or signed;
//! the process stays up, and once the database is back the same request, sent again, goes through, stored once.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{
    call, count_eth, ctx_now, get, open_with_deposit, post_as, refused, stored_latest, Db, Node,
};
use serde_json::json;
use spoke_protocol::{propose, Address, ChannelState, Side, Update, U256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_requests_are_503_and_nothing_is_signed_then_it_recovers() {
    let mut n = Node::start_on(Db::Postgres, vec![]).await;
    let o = open_with_deposit(&n, 1, U256::from(1000)).await;
    let initial = ChannelState::initial(o.params.channel_id());
    let s1 = count_eth(&n, &o, &initial, U256::from(400)).await;
    let update = Update::CountDeposit {
        asset: Address::ZERO,
        side: Side::User,
        amount: U256::from(600),
    };
    let (_, proposal) =
        propose(&s1, update, &ctx_now(&o.params, Side::User), &o.user).expect("propose");
    let body = json!({ "proposal": proposal });

    // Sixteen requests at once fill the pool with connections that the outage will break.
    let mut at_once = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (router, token) = (n.router.clone(), o.token.clone());
        at_once.spawn(async move { call(&router, get("/payments", Some(&token))).await.0 });
    }
    while let Some(status) = at_once.join_next().await {
        assert_eq!(status.expect("request"), StatusCode::OK);
    }

    n.postgres.as_mut().expect("a PostgreSQL node").stop();
    let started = Instant::now();
    let message = refused(
        call(
            &n.router,
            post_as("/channel/propose", body.clone(), &o.token),
        )
        .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "STORE_UNAVAILABLE",
    );
    assert!(
        !message.contains("signature"),
        "no signature in a refusal: {message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered within the acquire timeout, not left hanging"
    );
    // What the node holds in memory may still be read; it shows nothing new.
    match call(&n.router, get("/channel/restore", Some(&o.token))).await {
        (StatusCode::OK, restored) => assert_eq!(restored["latest"]["state"]["nonce"], 1),
        answer => {
            refused(answer, StatusCode::SERVICE_UNAVAILABLE, "STORE_UNAVAILABLE");
        }
    }

    n.postgres.as_mut().expect("a PostgreSQL node").restart();
    // The pool reconnects on its own. A pooled connection from before the outage fails its first query (the node
    // does not ping before lending one: that costs a tenth of its CPU under load), but that failure opens a window
    // in which every connection is pinged first: a client that sends the same proposal again on 503 gets through
    // at the second try at the latest, and it is stored once.
    let mut tries = 0;
    let (status, answer) = loop {
        tries += 1;
        let answer = call(
            &n.router,
            post_as("/channel/propose", body.clone(), &o.token),
        )
        .await;
        if answer.0 != StatusCode::SERVICE_UNAVAILABLE || tries > 32 {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, StatusCode::OK, "after {tries} tries: {answer}");
    assert!(
        tries <= 2,
        "{tries} tries: one 503 per connection from before the outage"
    );
    assert!(
        answer["signature"].is_string() && answer["nonce"] == 2,
        "the node countersigned: {answer}"
    );
    let latest = stored_latest(&n, o.params.channel_id()).await;
    assert_eq!(latest.nonce, 2);
    assert!(latest.node_signature.is_some() && latest.user_signature.is_some());
    assert_eq!(
        call(&n.router, post_as("/channel/propose", body, &o.token)).await,
        (status, answer),
        "sent again, the same answer"
    );
}
