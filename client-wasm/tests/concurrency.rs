//! Many payments at once: 200 payments from 20 payers to one payee; and two users paying each other at the same
//! time, on SQLite and on PostgreSQL, where the node locks both channels of a payment. Each payment completes or
//! fails cleanly, value is conserved, and every channel ends with no lock left and the same latest state on both
//! sides.

mod common;

use std::time::{Duration, Instant};

use common::{dai, eventually, Db, System};
use spoke_client::Client;
use spoke_protocol::{wire::PaymentStatus, Address, U256};

/// `payer` pays `to` in a task of its own and waits for the payment to complete: the payer's address, or the
/// error that ended it.
fn in_flight(
    payer: &Client,
    to: Address,
    asset: Address,
    amount: U256,
) -> tokio::task::JoinHandle<Result<Address, spoke_client::Error>> {
    let payer = payer.clone();
    tokio::spawn(async move {
        let id = payer.pay(to, asset, amount).await?;
        payer.wait_payment(id, Duration::from_secs(120)).await?;
        Ok(payer.address())
    })
}

const PAYERS: usize = 20;
const PER_PAYER: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_payments_at_once_from_twenty_payers_to_one_payee() {
    for db in [Db::Sqlite, Db::Postgres] {
        two_hundred_at_once(db).await;
    }
}

async fn two_hundred_at_once(db: Db) {
    let sys = System::start_on(db, PAYERS + 2, |_| vec!["--collateral-wait=30".into()]).await;
    let dai_token = sys.deployment.dai;
    let payee = sys.client(1).await;
    sys.collateralize(&payee).await;
    let mut payers = Vec::new();
    for index in 2..PAYERS + 2 {
        let payer = sys.client(index).await;
        sys.fund(&payer, dai(1)).await;
        payers.push(payer);
    }
    let amount = dai(1) / U256::from(100);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for payer in &payers {
        for _ in 0..PER_PAYER {
            tasks.push(in_flight(payer, payee.address(), dai_token, amount));
        }
    }
    let mut completed = Vec::new();
    let mut failed = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(payer) => completed.push(payer),
            Err(e) => failed.push(e),
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{db:?}: {} payments completed, {} failed, in {:.2} s: {:.1} payments/s",
        completed.len(),
        failed.len(),
        elapsed.as_secs_f64(),
        completed.len() as f64 / elapsed.as_secs_f64()
    );
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for e in &failed {
        *codes
            .entry(format!(
                "{}: {}",
                e.code(),
                e.to_string().chars().take(160).collect::<String>()
            ))
            .or_default() += 1;
    }
    println!("failures: {codes:#?}");
    for e in &failed {
        // Clean failures only: the node's refusals (with a code), never a broken channel.
        assert!(
            matches!(
                e,
                spoke_client::Error::Node { .. } | spoke_client::Error::PaymentFailed(_)
            ),
            "an unclean failure: {e}"
        );
    }
    assert!(
        completed.len() >= PAYERS * PER_PAYER * 9 / 10,
        "most payments complete: {} of {}",
        completed.len(),
        PAYERS * PER_PAYER
    );

    // Value is conserved: the payee got exactly the completed payments, each payer paid exactly its own.
    let total = amount * U256::from(completed.len());
    eventually("the payee's balance", Duration::from_secs(30), || async {
        payee.balance(dai_token).await == total
    })
    .await;
    for payer in &payers {
        let paid = completed.iter().filter(|a| **a == payer.address()).count();
        payer.sync().await.expect("sync");
        assert_eq!(
            payer.balance(dai_token).await,
            dai(1) - amount * U256::from(paid),
            "payer {} paid exactly its completed payments",
            payer.address()
        );
        assert!(
            payer.channel().await.locks.is_empty(),
            "no lock left in a payer's channel"
        );
    }
    eventually("the payee's locks", Duration::from_secs(30), || async {
        payee.sync().await.is_ok() && payee.channel().await.locks.is_empty()
    })
    .await;
    let history = payee.history(500).await.expect("history");
    let done = history
        .iter()
        .filter(|p| p.status == PaymentStatus::Completed)
        .count();
    assert_eq!(done, completed.len(), "the node's record agrees");
}

/// Payments each way between two users, all in flight together.
const EACH_WAY: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_paying_each_other_at_once_neither_deadlock_nor_lose_value() {
    for db in [Db::Sqlite, Db::Postgres] {
        both_ways_at_once(db).await;
    }
}

async fn both_ways_at_once(db: Db) {
    let sys = System::start_on(db, 4, |_| vec!["--collateral-wait=30".into()]).await;
    let dai_token = sys.deployment.dai;
    let (a, b) = (sys.client(1).await, sys.client(2).await);
    for user in [&a, &b] {
        sys.fund(user, dai(1)).await;
        sys.collateralize(user).await;
    }
    let amount = dai(1) / U256::from(100);

    let mut tasks = Vec::new();
    for i in 0..2 * EACH_WAY {
        let (payer, payee) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        tasks.push(in_flight(payer, payee.address(), dai_token, amount));
    }
    let mut paid_by = std::collections::HashMap::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(payer) => *paid_by.entry(payer).or_insert(0u64) += 1,
            // A refusal is a clean failure; the database's deadlock or serialization errors must never reach a
            // client: the node orders its locks so that there are none.
            Err(e) => panic!("{db:?}: a payment failed: {} {e}", e.code()),
        }
    }
    let (by_a, by_b) = (paid_by[&a.address()], paid_by[&b.address()]);
    assert_eq!(
        by_a + by_b,
        2 * EACH_WAY as u64,
        "{db:?}: every payment completed"
    );

    // Each balance moved by exactly what it sent and received.
    for (user, sent, received) in [(&a, by_a, by_b), (&b, by_b, by_a)] {
        let expected = dai(1) - amount * U256::from(sent) + amount * U256::from(received);
        eventually(
            &format!("{db:?}: {}'s balance and locks", user.address()),
            Duration::from_secs(30),
            || async {
                user.sync().await.is_ok()
                    && user.balance(dai_token).await == expected
                    && user.channel().await.locks.is_empty()
            },
        )
        .await;
    }
    let history = a.history(100).await.expect("history");
    assert_eq!(
        history
            .iter()
            .filter(|p| p.status == PaymentStatus::Completed)
            .count(),
        2 * EACH_WAY,
        "{db:?}: the node's record has every payment completed"
    );
}
