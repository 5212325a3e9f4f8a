//! The EIP-1193 provider against a real anvil: what it answers itself, what it signs, what it refuses, and what it
//! forwards to the RPC.

mod common;

use std::time::Duration;

use alloy::providers::Provider;
use alloy_sol_types::{eip712_domain, sol, SolCall, SolStruct};
use common::{dai, System};
use serde_json::{json, Value};
use spoke_client::{Eip1193, EthChain, ProviderError};
use spoke_contracts::bindings::DevDai;
use spoke_protocol::{signature_hex, Address, Login, Signature, B256, U256};

sol! {
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
    }
}

/// The system, and a provider for anvil's account 1 that logs in to the system's node.
async fn provider() -> (System, EthChain, Eip1193) {
    let sys = System::start_with(20, 3).await;
    let chain = sys.chain(1);
    let provider = Eip1193::new(chain.clone(), sys.anvil.chain_id(), sys.node_domain());
    (sys, chain, provider)
}

fn signature(answer: &Value) -> Signature {
    let text = answer.as_str().expect("a signature is a string");
    assert_eq!(text.len(), 132, "65 bytes in hex: {text}");
    assert!(matches!(&text[130..], "1b" | "1c"), "v is 27 or 28: {text}");
    signature_hex::parse(text).expect("a signature")
}

async fn refused(provider: &Eip1193, method: &str, params: Value) -> ProviderError {
    provider
        .request(method, params)
        .await
        .expect_err("the provider refuses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_accounts_and_chain_and_forwards_the_rest() {
    let (sys, chain, provider) = provider().await;
    let me = sys.secret_address(1);
    assert_eq!(chain.account(), me);
    for method in ["eth_accounts", "eth_requestAccounts"] {
        let accounts = provider.request(method, json!([])).await.expect(method);
        let accounts: Vec<Address> = serde_json::from_value(accounts).expect("addresses");
        assert_eq!(accounts, vec![me]);
    }
    let chain_id = sys.anvil.chain_id();
    assert_eq!(
        provider
            .request("eth_chainId", Value::Null)
            .await
            .expect("chain id"),
        json!(format!("{chain_id:#x}"))
    );
    assert_eq!(
        provider
            .request("net_version", json!([]))
            .await
            .expect("net_version"),
        json!(chain_id.to_string())
    );
    assert_eq!(chain.chain_id().await.expect("chain id"), chain_id);

    // Forwarded as is.
    let head = provider
        .request("eth_blockNumber", json!([]))
        .await
        .expect("eth_blockNumber");
    assert_eq!(head, json!(format!("{:#x}", sys.block_number().await)));
    assert_eq!(
        chain.block_number().await.expect("head"),
        sys.block_number().await
    );
    let balance = provider
        .request("eth_getBalance", json!([me, "latest"]))
        .await
        .expect("eth_getBalance");
    let expected = sys.provider().get_balance(me).await.expect("balance");
    assert_eq!(balance, json!(format!("{expected:#x}")));
    // The RPC's errors keep their code.
    let unknown = refused(&provider, "spoke_noSuchMethod", json!([])).await;
    assert_eq!(unknown.code, -32601, "{unknown:?}");

    // One chain only.
    assert_eq!(
        provider
            .request(
                "wallet_switchEthereumChain",
                json!([{ "chainId": format!("{chain_id:#x}") }])
            )
            .await
            .expect("the same chain"),
        Value::Null
    );
    let other = refused(
        &provider,
        "wallet_switchEthereumChain",
        json!([{ "chainId": "0x1" }]),
    )
    .await;
    assert_eq!(other.code, ProviderError::UNRECOGNIZED_CHAIN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_transactions_from_its_own_account_only() {
    let (sys, chain, provider) = provider().await;
    let me = sys.secret_address(1);
    let to = Address::repeat_byte(0x55);
    let eth = sys.provider();
    let one_eth = U256::from(10u64).pow(U256::from(18));

    // ETH, with everything but the value left to the chain.
    let hash = provider
        .request(
            "eth_sendTransaction",
            json!([{ "from": me, "to": to, "value": format!("{one_eth:#x}") }]),
        )
        .await
        .expect("sent");
    let hash: B256 = serde_json::from_value(hash).expect("a hash");
    let receipt = chain.wait_receipt(hash).await.expect("mined");
    assert!(receipt.status);
    assert_eq!(receipt.transaction_hash, hash);
    assert_eq!(eth.get_balance(to).await.expect("balance"), one_eth);
    assert_eq!(
        chain.balance(to, Address::ZERO).await.expect("balance"),
        one_eth
    );

    // A contract call with data (`input`), gas estimated.
    let transfer = DevDai::transferCall { to, value: dai(3) };
    let hash = provider
        .request(
            "eth_sendTransaction",
            json!([{ "from": me, "to": sys.deployment.dai, "input": format!("0x{}", spoke_protocol::hex::encode(transfer.abi_encode())) }]),
        )
        .await
        .expect("sent");
    let hash: B256 = serde_json::from_value(hash).expect("a hash");
    assert!(chain.wait_receipt(hash).await.expect("mined").status);
    assert_eq!(
        chain
            .balance(to, sys.deployment.dai)
            .await
            .expect("balance"),
        dai(3)
    );

    // A call that reverts: the RPC's error (code and revert data) comes back, nothing is sent.
    let nonce = eth.get_transaction_count(me).await.expect("nonce");
    let too_much = DevDai::transferCall {
        to,
        value: dai(1_000_000),
    };
    let reverted = refused(
        &provider,
        "eth_sendTransaction",
        json!([{ "from": me, "to": sys.deployment.dai, "data": format!("0x{}", spoke_protocol::hex::encode(too_much.abi_encode())) }]),
    )
    .await;
    assert_eq!(reverted.code, 3, "{reverted:?}");
    assert!(reverted.data.is_some(), "{reverted:?}");

    // From another account: refused, nothing sent.
    let other = sys.secret_address(2);
    let error = refused(
        &provider,
        "eth_sendTransaction",
        json!([{ "from": other, "to": to, "value": "0x1" }]),
    )
    .await;
    assert_eq!(error.code, ProviderError::UNAUTHORIZED, "{error:?}");
    let error = refused(
        &provider,
        "eth_sendTransaction",
        json!([{ "to": to, "value": "0x1" }]),
    )
    .await;
    assert_eq!(error.code, ProviderError::INVALID_PARAMS, "{error:?}");
    let error = refused(
        &provider,
        "eth_sendTransaction",
        json!([{ "from": me, "to": to, "value": "0x1", "chainId": "0x1" }]),
    )
    .await;
    assert_eq!(error.code, ProviderError::INVALID_PARAMS, "{error:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(eth.get_transaction_count(me).await.expect("nonce"), nonce);
    assert_eq!(eth.get_balance(to).await.expect("balance"), one_eth);

    // The chain's own transactions go the same way: a preimage revealed in the contract's registry.
    let preimage = B256::repeat_byte(0x42);
    chain.reveal(preimage).await.expect("revealed");
    assert_ne!(
        sys.revealed_at(spoke_protocol::sha256(preimage)).await,
        U256::ZERO
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_messages_and_typed_data_but_not_channel_states() {
    let (sys, _chain, provider) = provider().await;
    let me = sys.secret_address(1);
    let chain_id = sys.anvil.chain_id();

    // personal_sign, UTF-8 text and hex bytes.
    let text = "Hello from a dapp";
    let sig = signature(
        &provider
            .request("personal_sign", json!([text, me]))
            .await
            .expect("signed"),
    );
    assert_eq!(sig.recover_address_from_msg(text).expect("recovers"), me);
    let sig = signature(
        &provider
            .request("personal_sign", json!(["0x68656c6c6f", me]))
            .await
            .expect("signed"),
    );
    assert_eq!(
        sig.recover_address_from_msg(b"hello").expect("recovers"),
        me
    );
    let error = refused(
        &provider,
        "personal_sign",
        json!([text, sys.secret_address(2)]),
    )
    .await;
    assert_eq!(error.code, ProviderError::UNAUTHORIZED);

    // Sign-in messages: only for the node's domain.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let login = |domain: &str| Login {
        domain: domain.into(),
        uri: format!("http://{domain}/auth"),
        address: me,
        chain_id,
        nonce: "Q8fNn2s9kd03Lpa1".into(),
        issued_at: now,
        expires_at: now + 300,
    };
    let ours = login(&sys.node_domain()).to_text().expect("text");
    let sig = signature(
        &provider
            .request("personal_sign", json!([ours, me]))
            .await
            .expect("signed"),
    );
    spoke_protocol::verify_login(&ours, &sig, &sys.node_domain(), chain_id, now)
        .expect("the node would accept it");
    let theirs = login("evil.example").to_text().expect("text");
    let error = refused(&provider, "personal_sign", json!([theirs, me])).await;
    assert_eq!(error.code, ProviderError::UNAUTHORIZED, "{error:?}");
    let hex_theirs = format!("0x{}", spoke_protocol::hex::encode(theirs.as_bytes()));
    let error = refused(&provider, "personal_sign", json!([hex_theirs, me])).await;
    assert_eq!(error.code, ProviderError::UNAUTHORIZED, "{error:?}");

    // An ordinary permit: the same digest alloy's `sol!` computes.
    let permit = Permit {
        owner: me,
        spender: Address::repeat_byte(0x99),
        value: dai(5),
        nonce: U256::ZERO,
        deadline: U256::from(now + 3600),
    };
    let domain = eip712_domain! {
        name: "DevDai",
        version: "1",
        chain_id: chain_id,
        verifying_contract: sys.deployment.dai,
    };
    let digest = permit.eip712_signing_hash(&domain);
    let typed = |contract: Address, chain: u64| {
        json!({
            "types": {
                "EIP712Domain": [
                    { "name": "name", "type": "string" },
                    { "name": "version", "type": "string" },
                    { "name": "chainId", "type": "uint256" },
                    { "name": "verifyingContract", "type": "address" },
                ],
                "Permit": [
                    { "name": "owner", "type": "address" },
                    { "name": "spender", "type": "address" },
                    { "name": "value", "type": "uint256" },
                    { "name": "nonce", "type": "uint256" },
                    { "name": "deadline", "type": "uint256" },
                ],
            },
            "primaryType": "Permit",
            "domain": { "name": "DevDai", "version": "1", "chainId": chain, "verifyingContract": contract },
            "message": {
                "owner": me,
                "spender": permit.spender,
                "value": permit.value.to_string(),
                "nonce": "0",
                "deadline": permit.deadline.to_string(),
            },
        })
    };
    let dai_permit = typed(sys.deployment.dai, chain_id);
    for data in [json!(dai_permit.to_string()), dai_permit.clone()] {
        let sig = signature(
            &provider
                .request("eth_signTypedData_v4", json!([me, data]))
                .await
                .expect("signed"),
        );
        assert_eq!(
            sig.recover_address_from_prehash(&digest).expect("recovers"),
            me
        );
    }
    // Another chain's typed data, and another account.
    let error = refused(
        &provider,
        "eth_signTypedData_v4",
        json!([me, typed(sys.deployment.dai, 1)]),
    )
    .await;
    assert_eq!(error.code, ProviderError::INVALID_PARAMS, "{error:?}");
    let error = refused(
        &provider,
        "eth_signTypedData_v4",
        json!([sys.secret_address(2), dai_permit]),
    )
    .await;
    assert_eq!(error.code, ProviderError::UNAUTHORIZED, "{error:?}");

    // Typed data for the ChannelManager is the validator's alone, whatever it looks like.
    let error = refused(
        &provider,
        "eth_signTypedData_v4",
        json!([
            me,
            typed(sys.deployment.channel_manager, chain_id).to_string()
        ]),
    )
    .await;
    assert_eq!(error.code, ProviderError::UNAUTHORIZED, "{error:?}");

    // Raw hashes are never signed, and nothing that signs reaches the RPC (anvil holds this very key).
    for (method, params) in [
        ("eth_sign", json!([me, format!("{}", B256::repeat_byte(1))])),
        ("eth_signTransaction", json!([{ "from": me, "to": me }])),
        ("eth_signTypedData", json!([[], me])),
        ("personal_unlockAccount", json!([me, "", 0])),
    ] {
        let error = refused(&provider, method, params).await;
        assert_eq!(
            error.code,
            ProviderError::UNSUPPORTED_METHOD,
            "{method}: {error:?}"
        );
        assert!(error.message.contains(method), "{error:?}");
    }
    let error = refused(&provider, "eth_sign", json!([me, "0x00"])).await;
    assert!(error.message.contains("raw hash"), "{error:?}");
}
