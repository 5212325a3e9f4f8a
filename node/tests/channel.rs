//! The update pipeline end to end on a real chain: a user deposits on chain, sets the channel up, proposes to
//! count the deposit; the node checks it against the chain, stores both signatures, then answers with its own,
//! and the contract accepts the double-signed state.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::Bytes;
use axum::http::StatusCode;
use common::{call, login, post_as, Node};
use serde_json::json;
use spoke_contracts::{bindings::ChannelManager, sol_state};
use spoke_node::store::Store;
use spoke_protocol::{
    check_signed_state, propose, signature_hex, Address, ChannelParams, ChannelState, Context,
    Side, SignedState, Update, U256,
};

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn count_eth(amount: U256) -> Update {
    Update::CountDeposit {
        asset: Address::ZERO,
        side: Side::User,
        amount,
    }
}

fn user_ctx(params: &ChannelParams) -> Context<'_> {
    Context {
        now: now(),
        proposer: Side::User,
        params,
        proposer_key: None,
    }
}

/// Posts a body to `/channel/propose` as the holder of `token`.
async fn submit(n: &Node, token: &str, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    call(&n.router, post_as("/channel/propose", body, token)).await
}

/// A user (anvil account `index`) who deposited `amount` ETH on chain, logged in and set the channel up.
struct Opened {
    user: spoke_protocol::Signer,
    provider: alloy::providers::DynProvider,
    manager: ChannelManager::ChannelManagerInstance<alloy::providers::DynProvider>,
    token: String,
    params: ChannelParams,
}

async fn open_with_deposit(n: &Node, index: usize, amount: U256) -> Opened {
    let (user, provider) = n.account(index);
    let manager = ChannelManager::new(n.deployment.channel_manager, provider.clone());
    let deposit = manager
        .deposit(user.address(), n.state.node, Address::ZERO, 0, amount)
        .value(amount);
    assert!(deposit
        .send()
        .await
        .expect("sent")
        .get_receipt()
        .await
        .expect("receipt")
        .status());
    let token = login(&n.router, &user).await;
    let (status, body) = call(&n.router, post_as("/channel/setup", json!({}), &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let params: ChannelParams = serde_json::from_value(body["params"].clone()).expect("params");
    assert!(
        body["latest"].is_null(),
        "a fresh channel has only its opening state: {body}"
    );
    Opened {
        user,
        provider,
        manager,
        token,
        params,
    }
}

/// The nonce of the newest state the node stored for the channel.
async fn latest_nonce(n: &Node, params: &ChannelParams) -> Option<u64> {
    n.store
        .latest(params.channel_id())
        .await
        .expect("latest")
        .map(|u| u.nonce)
}

fn signature(value: &serde_json::Value) -> spoke_protocol::Signature {
    signature_hex::parse(value.as_str().expect("a string")).expect("a signature")
}

#[tokio::test]
async fn a_deposit_is_counted_only_as_far_as_the_chain_shows_and_the_contract_takes_the_state() {
    let n = Node::start(vec![]).await;
    let Opened {
        user,
        provider: _,
        manager,
        token,
        params,
    } = open_with_deposit(&n, 1, eth(1)).await;
    assert_eq!(
        (params.user, params.node, params.epoch),
        (user.address(), n.state.node, 0)
    );

    // More than the chain shows: refused, and nothing is stored.
    let initial = ChannelState::initial(params.channel_id());
    let ctx = user_ctx(&params);
    let too_much = count_eth(eth(2));
    let (_, proposal) = propose(&initial, too_much, &ctx, &user).expect("propose");
    let (status, body) = submit(&n, &token, json!({ "proposal": proposal })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("DEPOSIT_NOT_CONFIRMED")),
        "{body}"
    );
    assert_eq!(
        latest_nonce(&n, &params).await,
        Some(0),
        "nothing new is stored"
    );

    // Exactly the deposit: co-signed, and stored before the answer.
    let count = count_eth(eth(1));
    let (next, proposal) = propose(&initial, count, &ctx, &user).expect("propose");
    let (status, body) = submit(&n, &token, json!({ "proposal": proposal })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let signed = SignedState {
        state: next.clone(),
        user_signature: proposal.signature,
        node_signature: signature(&body["signature"]),
    };
    check_signed_state(&signed, &params).expect("a valid double-signed state");
    let stored = n
        .store
        .latest_double_signed(params.channel_id())
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(
        (stored.state, stored.node_signature),
        (next.clone(), Some(signed.node_signature))
    );

    // A retry gets the same answer; a different update at the same nonce is refused.
    let (status, again) = submit(&n, &token, json!({ "proposal": proposal })).await;
    assert_eq!(
        (status, &again["signature"]),
        (StatusCode::OK, &body["signature"])
    );
    let other = count_eth(eth(1) / U256::from(2));
    let (_, conflicting) = propose(&initial, other, &ctx, &user).expect("propose");
    let (status, body) = call(
        &n.router,
        post_as(
            "/channel/propose",
            json!({ "proposal": conflicting }),
            &token,
        ),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("STALE_NONCE")),
        "{body}"
    );

    // A lock is a payment and goes through /pay, which knows its recipient.
    let lock = spoke_protocol::Lock {
        id: spoke_protocol::B256::repeat_byte(1),
        asset: Address::ZERO,
        amount: eth(1) / U256::from(10),
        sender: Side::User,
        hashlock: spoke_protocol::sha256(spoke_protocol::B256::repeat_byte(2)),
        expiry: now() + 3 * 3600,
    };
    let (_, proposal) = propose(&next, Update::CreateLock { lock }, &ctx, &user).expect("propose");
    let (status, body) = submit(&n, &token, json!({ "proposal": proposal })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("USE_PAY"))
    );

    // The contract takes the state the node co-signed.
    let sig = |s: &spoke_protocol::Signature| Bytes::from(s.as_bytes().to_vec());
    let dispute = manager.dispute(
        user.address(),
        n.state.node,
        sol_state(&signed.state),
        sig(&signed.user_signature),
        sig(&signed.node_signature),
    );
    assert!(dispute
        .send()
        .await
        .expect("sent")
        .get_receipt()
        .await
        .expect("receipt")
        .status());
}

#[tokio::test]
async fn proposals_need_a_channel_and_a_valid_signature() {
    let n = Node::start(vec![]).await;
    let (user, _) = n.account(2);
    let token = login(&n.router, &user).await;
    let params = n.state.params(user.address(), 0);
    let ctx = user_ctx(&params);
    let update = count_eth(eth(1));
    let (_, proposal) = propose(
        &ChannelState::initial(params.channel_id()),
        update,
        &ctx,
        &user,
    )
    .expect("propose");
    let (status, body) = submit(&n, &token, json!({ "proposal": proposal })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NO_CHANNEL"))
    );

    call(&n.router, post_as("/channel/setup", json!({}), &token)).await;
    let (stranger, _) = n.account(3);
    let update = count_eth(eth(1));
    let forged = spoke_protocol::Proposal {
        signature: propose(
            &ChannelState::initial(params.channel_id()),
            update,
            &ctx,
            &user,
        )
        .map(|(state, _)| {
            let digest = spoke_protocol::state_digest(&params.domain(), &state);
            stranger.sign_digest(&digest).expect("sign")
        })
        .expect("state"),
        ..proposal
    };
    let (status, body) = submit(&n, &token, json!({ "proposal": forged })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BAD_SIGNATURE")),
        "{body}"
    );
}

#[tokio::test]
async fn a_withdrawal_is_cosigned_with_its_commitment_and_pays_on_chain() {
    let n = Node::start(vec![]).await;
    let Opened {
        user,
        provider,
        manager,
        token,
        params,
    } = open_with_deposit(&n, 4, eth(1)).await;
    let ctx = user_ctx(&params);
    let count = count_eth(eth(1));
    let (counted, proposal) = propose(
        &ChannelState::initial(params.channel_id()),
        count,
        &ctx,
        &user,
    )
    .expect("propose");
    let (status, _) = submit(&n, &token, json!({ "proposal": proposal })).await;
    assert_eq!(status, StatusCode::OK);

    let recipient = Address::repeat_byte(0x7e);
    let amount = eth(1) / U256::from(4);
    let withdraw = Update::Withdraw {
        asset: Address::ZERO,
        side: Side::User,
        amount,
        recipient,
    };
    let (after, proposal) = propose(&counted, withdraw.clone(), &ctx, &user).expect("propose");
    let commitment = withdraw.commitment(&after).expect("a commitment");
    let dom = params.domain();
    let digest = spoke_protocol::commitment_digest(&dom, &commitment);

    // Without the user's commitment signature, or with a wrong one, nothing is signed or stored.
    let (status, body) = submit(&n, &token, json!({ "proposal": proposal })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let wrong = user
        .sign_digest(&alloy::primitives::keccak256(digest))
        .expect("sign");
    let request = json!({ "proposal": proposal, "commitmentSignature": spoke_protocol::hex::encode_prefixed(wrong.as_bytes()) });
    let (status, body) = submit(&n, &token, request).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BAD_SIGNATURE")),
        "{body}"
    );
    assert_eq!(
        latest_nonce(&n, &params).await,
        Some(1),
        "nothing new is stored"
    );

    let user_commitment = user.sign_digest(&digest).expect("sign");
    let request = json!({
        "proposal": proposal,
        "commitmentSignature": spoke_protocol::hex::encode_prefixed(user_commitment.as_bytes()),
    });
    let (status, body) = submit(&n, &token, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let signed = spoke_protocol::SignedCommitment {
        commitment,
        user_signature: user_commitment,
        node_signature: signature(&body["commitmentSignature"]),
    };
    signed
        .check(&params)
        .expect("both signatures on the commitment");

    // The user hands the commitment to the contract; the recipient is paid.
    let sig = |s: &spoke_protocol::Signature| Bytes::from(s.as_bytes().to_vec());
    let call_withdraw = manager.withdraw(
        user.address(),
        n.state.node,
        0,
        spoke_contracts::sol_commitment(&signed.commitment),
        sig(&signed.user_signature),
        sig(&signed.node_signature),
    );
    assert!(call_withdraw
        .send()
        .await
        .expect("sent")
        .get_receipt()
        .await
        .expect("receipt")
        .status());
    let paid = alloy::providers::Provider::get_balance(&provider, recipient)
        .await
        .expect("balance");
    assert_eq!(paid, amount);
}
