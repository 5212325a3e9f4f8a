//! A user's proposal may carry its countersignature on the node's pending proposal, which it follows: a payee takes
//! the node's lock and resolves it in one request. The countersignature is stored first, judged exactly as
//! `POST /channel/countersign` judges it; a bad one refuses the whole request and changes nothing.

mod common;

use axum::http::StatusCode;
use common::{
    assert_names, at_node, call, count_user_eth, ctx_now, node_proposal, open_with_deposit,
    post_as, refused, Node,
};
use serde_json::{json, Value};
use spoke_protocol::{
    accept_proposal, propose, wire::CountersignRequest, ChannelState, Side, Update, U256,
};

const DEPOSIT: u64 = 1_000;

/// The user's count of its own ETH deposit; the node accepts it up to what the chain shows.
fn count(amount: u64) -> Update {
    count_user_eth(U256::from(amount))
}

#[tokio::test]
async fn a_proposal_carries_the_countersignature_on_the_state_it_follows() {
    let n = Node::start(vec![]).await;
    let b = open_with_deposit(&n, 2, U256::from(DEPOSIT)).await;
    let c = open_with_deposit(&n, 3, U256::ZERO).await;
    let pending = node_proposal(&n, &b).await;
    let initial = ChannelState::initial(b.params.channel_id());
    let taken = accept_proposal(&initial, &pending, &ctx_now(&b.params, Side::Node))
        .expect("the node's proposal is valid");
    let (next, mine) = propose(
        &taken.state,
        count(DEPOSIT),
        &ctx_now(&b.params, Side::User),
        &b.user,
    )
    .expect("propose");
    let countersign = |signature| CountersignRequest {
        nonce: pending.nonce,
        signature,
        commitment_signature: None,
    };
    let good = countersign(b.user.sign_digest(&taken.digest).expect("sign"));
    let submit = |body: Value| call(&n.router, post_as("/channel/propose", body, &b.token));
    let before = at_node(&n, &b).await;
    assert_eq!(
        (before.latest.nonce, before.latest.user_signature),
        (pending.nonce, None)
    );

    // Without it, the node's proposal is in the way.
    refused(
        submit(json!({ "proposal": mine })).await,
        StatusCode::CONFLICT,
        "PENDING_PROPOSAL",
    );
    // Signed by someone else; at a nonce where nothing waits: refused whole.
    let by_c = countersign(c.user.sign_digest(&taken.digest).expect("sign"));
    let message = refused(
        submit(json!({ "proposal": mine, "countersign": by_c })).await,
        StatusCode::BAD_REQUEST,
        "BAD_SIGNATURE",
    );
    assert_names(&message, &c.user.address().to_string());
    let stale = CountersignRequest { nonce: 7, ..good };
    refused(
        submit(json!({ "proposal": mine, "countersign": stale })).await,
        StatusCode::CONFLICT,
        "STALE_NONCE",
    );
    assert_eq!(at_node(&n, &b).await, before, "nothing changed");

    // A good countersignature with a proposal the node refuses: the countersignature is stored, as it would be
    // alone, and the proposal is not.
    let (_, overspent) = propose(
        &taken.state,
        count(DEPOSIT + 1),
        &ctx_now(&b.params, Side::User),
        &b.user,
    )
    .expect("propose");
    let (status, body) = submit(json!({ "proposal": overspent, "countersign": good })).await;
    assert!(status.is_client_error(), "{status}: {body}");
    let countersigned = at_node(&n, &b).await;
    assert_eq!(
        (
            countersigned.latest.nonce,
            countersigned.latest.user_signature
        ),
        (pending.nonce, Some(good.signature))
    );

    // Sent again with a proposal the node accepts: the same countersignature is taken as stored, the proposal
    // countersigned.
    let (status, body) = submit(json!({ "proposal": mine, "countersign": good })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["nonce"], json!(next.nonce));
    let after = at_node(&n, &b).await;
    assert_eq!(after.latest.nonce, next.nonce);
    assert_eq!(after.latest.user_signature, Some(mine.signature));
    assert!(after.latest.node_signature.is_some());
}
