//! The lock Merkle tree, compatible with OpenZeppelin's `MerkleProof.verify` (commutative keccak256 of sorted
//! pairs). Leaves are sorted, neighbours are paired level by level, and an odd last node moves up unchanged.

use alloy_primitives::{keccak256, B256};

use crate::{eip712::lock_leaf, state::Lock};

fn hash_pair(a: &B256, b: &B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

fn next_level(level: &[B256]) -> Vec<B256> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [a, b] => hash_pair(a, b),
            [a] => *a,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The root over `leaves` (in any order); `B256::ZERO` for none.
pub fn merkle_root(leaves: &[B256]) -> B256 {
    let mut level = leaves.to_vec();
    level.sort_unstable();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level.first().copied().unwrap_or(B256::ZERO)
}

/// The sibling path from `leaf` to the root, or `None` if `leaf` is not among `leaves`.
pub fn merkle_proof(leaves: &[B256], leaf: B256) -> Option<Vec<B256>> {
    let mut level = leaves.to_vec();
    level.sort_unstable();
    let mut index = level.binary_search(&leaf).ok()?;
    let mut proof = Vec::new();
    while level.len() > 1 {
        let sibling = index ^ 1;
        if let Some(node) = level.get(sibling) {
            proof.push(*node);
        }
        level = next_level(&level);
        index /= 2;
    }
    Some(proof)
}

/// What `MerkleProof.verify(proof, root, leaf)` answers on chain.
pub fn verify_merkle_proof(root: B256, leaf: B256, proof: &[B256]) -> bool {
    proof
        .iter()
        .fold(leaf, |acc, sibling| hash_pair(&acc, sibling))
        == root
}

/// The root a state signs for its active locks.
pub fn locks_root(channel_id: B256, locks: &[Lock]) -> B256 {
    let leaves: Vec<B256> = locks.iter().map(|l| lock_leaf(channel_id, l)).collect();
    merkle_root(&leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u8) -> Vec<B256> {
        (0..n).map(|i| keccak256([i])).collect()
    }

    #[test]
    fn empty_tree_has_zero_root_and_one_leaf_is_its_own_root() {
        assert_eq!(merkle_root(&[]), B256::ZERO);
        let l = keccak256([7u8]);
        assert_eq!(merkle_root(&[l]), l);
        assert_eq!(merkle_proof(&[l], l), Some(vec![]));
    }

    #[test]
    fn every_leaf_proves_for_every_tree_size() {
        for n in 1..=17 {
            let ls = leaves(n);
            let root = merkle_root(&ls);
            for l in &ls {
                let proof = merkle_proof(&ls, *l).expect("leaf is in the tree");
                assert!(verify_merkle_proof(root, *l, &proof), "n={n}");
            }
        }
    }

    #[test]
    fn root_ignores_leaf_order_and_rejects_foreign_leaves() {
        let mut ls = leaves(5);
        let root = merkle_root(&ls);
        ls.reverse();
        assert_eq!(merkle_root(&ls), root);
        assert_eq!(merkle_proof(&ls, keccak256([99u8])), None);
        let proof = merkle_proof(&ls, ls[0]).expect("in tree");
        assert!(!verify_merkle_proof(root, keccak256([99u8]), &proof));
    }
}
