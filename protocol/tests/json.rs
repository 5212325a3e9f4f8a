//! `FromJson` (src/json.rs) against serde's derive, which specifies the wire: for a sample of every type the
//! client reads, the JSON serde writes must read back to the same value, and every variation of it — each field
//! removed, set to a value of the wrong kind, or joined by an unknown field, at every depth — must be taken by
//! both readers with the same result or refused by both.

use serde_json::Value;
use spoke_protocol::{
    json::{
        conformance::{agrees, same_reading},
        FromJson,
    },
    wire::{
        ApiErrorBody, ChallengeResponse, ChannelResponse, CountersignResponse, IncomingPayment,
        KeyResponse, LoginResponse, NodeConfig, NodeEvent, PaymentRecord, PaymentStatus,
        PendingProposal, ProposeResponse, QuoteResponse, RedeemLinkResponse,
    },
    Address, AssetState, ChannelParams, ChannelState, EncryptedPreimage, ExchangeQuote, Lock,
    Proposal, Side, SignedCommitment, SignedState, Signer, Timing, Update, WithdrawCommitment,
    B256, U256,
};

fn address(n: u8) -> Address {
    Address::repeat_byte(n)
}

fn b256(n: u8) -> B256 {
    B256::repeat_byte(n)
}

fn signature(n: u8) -> spoke_protocol::Signature {
    Signer::from_bytes(&b256(0x11))
        .expect("key")
        .sign_digest(&b256(n))
        .expect("signs")
}

fn lock() -> Lock {
    Lock {
        id: b256(1),
        asset: address(2),
        amount: U256::from(1_000_000_000_000_000_000u128),
        sender: Side::Node,
        hashlock: b256(3),
        expiry: 1_700_000_000,
    }
}

fn quote() -> ExchangeQuote {
    ExchangeQuote {
        channel_id: b256(4),
        id: b256(5),
        sell_asset: address(6),
        sell_amount: U256::from(5u8),
        buy_asset: Address::ZERO,
        buy_amount: U256::MAX,
        expiry: 9,
    }
}

fn state() -> ChannelState {
    ChannelState {
        channel_id: b256(7),
        nonce: 42,
        assets: vec![AssetState {
            balance_user: U256::from(10u8),
            locked_node: U256::from(3u8),
            ..AssetState::empty(address(2))
        }],
        locks: vec![lock()],
    }
}

fn signed_state() -> SignedState {
    SignedState {
        state: state(),
        user_signature: signature(1),
        node_signature: signature(2),
    }
}

fn params() -> ChannelParams {
    ChannelParams {
        chain_id: 31337,
        contract: address(8),
        user: address(9),
        node: address(10),
        epoch: 2,
        allowed_assets: vec![address(2), address(6)],
        timing: Timing::default(),
        max_locks: 64,
    }
}

fn updates() -> Vec<Update> {
    vec![
        Update::CountDeposit {
            asset: address(2),
            side: Side::User,
            amount: U256::from(5u8),
        },
        Update::CreateLock { lock: lock() },
        Update::ResolveLock {
            id: b256(1),
            preimage: b256(12),
        },
        Update::CancelLock { id: b256(1) },
        Update::Withdraw {
            asset: address(2),
            side: Side::Node,
            amount: U256::from(5u8),
            recipient: address(13),
        },
        Update::Exchange {
            quote: quote(),
            node_signature: signature(3),
        },
    ]
}

fn proposal(update: Update) -> Proposal {
    Proposal {
        nonce: 43,
        update,
        signature: signature(4),
    }
}

fn encrypted() -> EncryptedPreimage {
    EncryptedPreimage {
        ephemeral_key: vec![2u8; 33].into(),
        ciphertext: vec![7u8; 48].into(),
    }
}

#[test]
fn channel_types_read_as_serde_reads_them() {
    let mut checked = agrees(&state());
    checked += agrees(&signed_state());
    checked += agrees(&params());
    checked += agrees(&SignedCommitment {
        commitment: WithdrawCommitment {
            channel_id: b256(7),
            state_nonce: 42,
            asset: address(2),
            side: Side::User,
            recipient: address(13),
            cumulative: U256::from(99u8),
        },
        user_signature: signature(5),
        node_signature: signature(6),
    });
    for update in updates() {
        checked += agrees(&proposal(update));
    }
    checked += agrees(&encrypted());
    assert!(checked > 2_000, "only {checked} variations");
}

#[test]
fn node_answers_read_as_serde_reads_them() {
    agrees(&NodeConfig {
        chain_id: 1,
        channel_manager: address(8),
        node: address(10),
        tokens: vec![address(2)],
        timing: Timing::default(),
        max_locks: 64,
        login_domain: "spoke.example".into(),
        deposit_confirmations: 3,
    });
    agrees(&ChallengeResponse {
        message: "sign in".into(),
        expires_at: 5,
    });
    agrees(&LoginResponse {
        token: "t".into(),
        address: address(9),
        expires_at: 5,
    });
    agrees(&ChannelResponse {
        params: params(),
        latest: Some(signed_state()),
    });
    agrees(&ChannelResponse {
        params: params(),
        latest: None,
    });
    agrees(&ProposeResponse {
        nonce: 43,
        signature: signature(7),
        commitment_signature: Some(signature(8)),
        payment_id: Some(b256(14)),
        withdrawal_tx: Some(b256(15)),
    });
    agrees(&ProposeResponse {
        nonce: 43,
        signature: signature(7),
        commitment_signature: None,
        payment_id: None,
        withdrawal_tx: None,
    });
    agrees(&RedeemLinkResponse {
        payment_id: b256(14),
        asset: address(2),
        amount: U256::from(3u8),
    });
    agrees(&QuoteResponse {
        quote: quote(),
        node_signature: signature(9),
    });
    agrees(&CountersignResponse { nonce: 3 });
    agrees(&KeyResponse {
        address: address(9),
        public_key: vec![3u8; 33].into(),
    });
    agrees(&ApiErrorBody {
        code: "REFUSED".into(),
        message: "no".into(),
    });
    for status in PaymentStatus::ALL {
        assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        agrees(&PaymentRecord {
            id: b256(14),
            payer: address(9),
            payee: Some(address(16)),
            asset: address(2),
            amount: U256::from(3u8),
            hashlock: b256(3),
            status,
            created_at: 1,
            updated_at: 2,
        });
    }
}

#[test]
fn node_events_read_as_serde_reads_them() {
    for payment in [
        None,
        Some(IncomingPayment {
            id: b256(14),
            payer: address(9),
            encrypted_preimage: Some(encrypted()),
        }),
        Some(IncomingPayment {
            id: b256(14),
            payer: address(9),
            encrypted_preimage: None,
        }),
    ] {
        let pending = PendingProposal {
            proposal: proposal(Update::CreateLock { lock: lock() }),
            payment,
        };
        agrees(&pending);
        agrees(&NodeEvent::Proposal(Box::new(pending)));
    }
    for payee in [Some(address(16)), None] {
        agrees(&NodeEvent::Payment {
            id: b256(14),
            status: PaymentStatus::Resolved,
            payer: address(9),
            payee,
            asset: address(2),
            amount: U256::from(3u8),
        });
    }
}

#[test]
fn an_update_of_one_kind_refuses_the_fields_of_another() {
    for text in [
        r#"{"kind":"cancelLock","id":"0x0101010101010101010101010101010101010101010101010101010101010101","amount":"1"}"#,
        r#"{"kind":"cancelLock"}"#,
        r#"{"kind":"nope","id":"0x0101010101010101010101010101010101010101010101010101010101010101"}"#,
        r#"{"id":"0x0101010101010101010101010101010101010101010101010101010101010101"}"#,
    ] {
        let value: Value = serde_json::from_str(text).expect("json");
        assert!(Update::from_json(&value).is_err(), "{text}");
        same_reading::<Update>(&value);
    }
    // A field of another kind given as null is absent, for serde as here.
    let value: Value = serde_json::from_str(
        r#"{"kind":"cancelLock","id":"0x0101010101010101010101010101010101010101010101010101010101010101","amount":null}"#,
    )
    .expect("json");
    assert_eq!(
        Update::from_json(&value).expect("reads"),
        Update::CancelLock { id: b256(1) }
    );
}

#[test]
fn from_slice_refuses_what_is_not_json() {
    use spoke_protocol::json::from_slice;
    assert_eq!(from_slice::<u64>(b" 7 ").expect("reads"), 7);
    for bad in [&b""[..], b"7 x", b"{", b"\xff"] {
        let e = from_slice::<u64>(bad).expect_err("refused");
        assert!(e.to_string().starts_with("not JSON"), "{e}");
    }
}
