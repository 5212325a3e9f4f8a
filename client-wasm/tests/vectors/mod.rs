//! Signatures over fixed inputs that the native and the browser builds must both produce, byte for byte: a channel
//! state, a withdrawal commitment, a login and the key derived from a phrase. `tests/signature_vectors.rs` checks
//! them natively, `tests/browser.rs` in Chromium; both against the same expected values.

use spoke_client::{MemoryKv, Wallet};
use spoke_protocol::{
    commitment_digest, domain, login_digest, state_digest, Address, AssetState, ChannelState, Lock,
    Side, Signer, WithdrawCommitment, B256, U256,
};

/// The Foundry/Hardhat test phrase; its first key is anvil's account 0.
pub const PHRASE: &str = "test test test test test test test test test test test junk";

/// What each vector must come to. The address is anvil's account 0, known independently; the signatures were made
/// by the native build and are the reference the browser build must reproduce (ethers checks such signatures in
/// the npm package's tests).
pub const EXPECTED: &[(&str, &str)] = &[
    ("address", "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"),
    ("state", "0x0e555da2bf7b3abdef89da7d4590395bfa0f7532cad6c09951dc7eae2148b29b7745f00ee43590afab2366712ec35b9d6d4b918e0975b05fd9c724ca6d823efd1c"),
    ("commitment", "0xac86b838c320a6241f40382a132824709b89be548919d374922762af4769a0952974b031f1ae0e5a0d4d5ff6851c9c8f060527a1d69b78bcd6ec3642336943a31c"),
    ("login", "0xeef1ba4b3b6dbebadcc55f8f05540f39cde05c7f3ff41d4739fdddddac6f4708147985cbe99881ad287668d77bf9aa4050438cdae818354c3c13f68a15dae63b1c"),
];

/// Each vector's name and its signature (or address), as hex.
pub fn computed() -> Vec<(&'static str, String)> {
    let kv = MemoryKv::new();
    let wallet =
        Wallet::import(&kv, "vectors", PHRASE, None, false).expect("the test phrase imports");
    let signer = Signer::from_bytes(&wallet.secret()).expect("a valid key");
    let domain = domain(31337, Address::repeat_byte(0xcc));
    let dai = Address::repeat_byte(0xda);
    let channel_id = B256::repeat_byte(0x11);
    let mut asset = AssetState::empty(dai);
    asset.balance_user = U256::from(7_000_000_000_000_000_000u128);
    asset.balance_node = U256::from(3u64);
    asset.counted_user = U256::from(7_000_000_000_000_000_003u128);
    asset.locked_user = U256::ZERO;
    let state = ChannelState {
        channel_id,
        nonce: 42,
        assets: vec![asset],
        locks: vec![Lock {
            id: B256::repeat_byte(0x22),
            asset: dai,
            amount: U256::from(5u64),
            sender: Side::Node,
            hashlock: B256::repeat_byte(0x33),
            expiry: 1_900_000_000,
        }],
    };
    let commitment = WithdrawCommitment {
        channel_id,
        state_nonce: 42,
        asset: dai,
        side: Side::User,
        recipient: Address::repeat_byte(0x44),
        cumulative: U256::MAX,
    };
    let sign = |digest: B256| {
        let signature = signer.sign_digest(&digest).expect("signs");
        spoke_protocol::hex::encode_prefixed(signature.as_bytes())
    };
    vec![
        ("address", format!("{:#x}", wallet.address())),
        ("state", sign(state_digest(&domain, &state))),
        ("commitment", sign(commitment_digest(&domain, &commitment))),
        (
            "login",
            sign(login_digest("example.com wants you to sign in")),
        ),
    ]
}

/// Asserts every vector matches.
pub fn check() {
    let computed = computed();
    for (name, got) in &computed {
        let want = EXPECTED.iter().find(|(n, _)| n == name).map(|(_, w)| *w);
        assert_eq!(
            Some(got.as_str()),
            want,
            "vector {name}; all computed: {computed:?}"
        );
    }
    assert_eq!(
        computed.len(),
        EXPECTED.len(),
        "every expected vector is computed"
    );
}
