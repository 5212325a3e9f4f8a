//! A proposer's signature checked against its kept public key accepts and refuses exactly what recovery does.

mod common;

use common::*;
use spoke_protocol::{
    accept_proposal, propose, Context, Error, Lock, Side, Signature, Update, B256,
};

fn lock(id: u8, amount: u64) -> Lock {
    Lock {
        id: B256::repeat_byte(id),
        asset: DAI,
        amount: spoke_protocol::U256::from(amount),
        sender: Side::User,
        hashlock: B256::repeat_byte(0xab),
        expiry: NOW + 3_600,
    }
}

#[test]
fn a_kept_key_decides_like_recovery() {
    let f = Fixture::new();
    let s = f.funded();
    let user_key = f.user.public_key();
    let node_key = f.node.public_key();
    let with = |key| Context {
        proposer_key: Some(key),
        ..f.ctx(Side::User)
    };
    let update = Update::CreateLock { lock: lock(1, 30) };
    let (mine, proposal) = propose(&s, update, &f.ctx(Side::User), &f.user).expect("propose");

    let accepted = accept_proposal(&s, &proposal, &with(&user_key)).expect("the user's own key");
    assert_eq!(accepted.state, mine);
    // Someone else's key is not the proposer's: it is ignored, and recovery decides.
    assert_eq!(
        accept_proposal(&s, &proposal, &with(&node_key)).map(|a| a.state),
        Ok(mine)
    );

    // The other v names another signer on chain: refused, with the signer recovery finds.
    let flipped = spoke_protocol::Proposal {
        signature: Signature::new(
            proposal.signature.r(),
            proposal.signature.s(),
            !proposal.signature.v(),
        ),
        ..proposal.clone()
    };
    let by_key = accept_proposal(&s, &flipped, &with(&user_key));
    let by_recovery = accept_proposal(&s, &flipped, &f.ctx(Side::User));
    assert!(matches!(
        by_key,
        Err(Error::WrongSigner {
            side: Side::User,
            ..
        })
    ));
    assert_eq!(by_key, by_recovery);

    // A signature over a different update.
    let other = spoke_protocol::Proposal {
        update: Update::CreateLock { lock: lock(1, 31) },
        ..proposal
    };
    let by_key = accept_proposal(&s, &other, &with(&user_key));
    assert!(matches!(by_key, Err(Error::WrongSigner { .. })));
    assert_eq!(by_key, accept_proposal(&s, &other, &f.ctx(Side::User)));
}
