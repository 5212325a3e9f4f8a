//! Group commit for SQLite. SQLite has one writer at a time, and every commit in WAL mode with
//! `synchronous = FULL` costs an fsync. So instead of each caller taking the write lock in turn (and sleeping on the
//! busy timeout while another holds it), one task owns a writing connection and commits the batches of every caller
//! waiting at that moment in one transaction: one fsync for the whole group. A batch that fails (a stale nonce, a
//! quote already taken) is rolled back alone and its caller gets its own error, while the others commit: the group
//! is then run again with each batch in its own savepoint. Nobody is answered before the commit that holds their
//! batch returned.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::*;

/// The most batches one transaction takes: enough that a group's fsync is shared widely, small enough that one
/// group's work does not delay its first caller by much.
const MAX_GROUP: usize = 256;

/// A [`Write`] that owns its data, so it can travel to the writer task.
#[derive(Debug)]
enum OwnedWrite {
    Append(Box<StoredUpdate>),
    Signature {
        channel_id: B256,
        nonce: u64,
        side: Side,
        signature: Signature,
    },
    Payment(Box<Payment>),
    CollateralDone {
        channel_id: B256,
        asset: Address,
    },
    QuoteUsed(B256),
    Commitment {
        channel_id: B256,
        nonce: u64,
        signatures: CommitmentSignatures,
    },
}

impl OwnedWrite {
    fn new(write: &Write<'_>) -> OwnedWrite {
        match *write {
            Write::Append(update) => OwnedWrite::Append(Box::new(update.clone())),
            Write::Signature {
                channel_id,
                nonce,
                side,
                signature,
            } => OwnedWrite::Signature {
                channel_id,
                nonce,
                side,
                signature: *signature,
            },
            Write::Payment(payment) => OwnedWrite::Payment(Box::new(payment.clone())),
            Write::CollateralDone { channel_id, asset } => {
                OwnedWrite::CollateralDone { channel_id, asset }
            }
            Write::QuoteUsed(id) => OwnedWrite::QuoteUsed(id),
            Write::Commitment {
                channel_id,
                nonce,
                signatures,
            } => OwnedWrite::Commitment {
                channel_id,
                nonce,
                signatures,
            },
        }
    }

    fn as_write(&self) -> Write<'_> {
        match self {
            OwnedWrite::Append(update) => Write::Append(update),
            OwnedWrite::Signature {
                channel_id,
                nonce,
                side,
                signature,
            } => Write::Signature {
                channel_id: *channel_id,
                nonce: *nonce,
                side: *side,
                signature,
            },
            OwnedWrite::Payment(payment) => Write::Payment(payment),
            OwnedWrite::CollateralDone { channel_id, asset } => Write::CollateralDone {
                channel_id: *channel_id,
                asset: *asset,
            },
            OwnedWrite::QuoteUsed(id) => Write::QuoteUsed(*id),
            OwnedWrite::Commitment {
                channel_id,
                nonce,
                signatures,
            } => Write::Commitment {
                channel_id: *channel_id,
                nonce: *nonce,
                signatures: *signatures,
            },
        }
    }
}

/// A batch as the store's writers take it.
fn borrowed(writes: &[OwnedWrite]) -> Vec<Write<'_>> {
    writes.iter().map(OwnedWrite::as_write).collect()
}

/// One caller's batch and where its answer goes.
struct Job {
    writes: Vec<OwnedWrite>,
    reply: oneshot::Sender<Result<Vec<Written>>>,
}

/// The handle the store keeps; the writer task ends when the last clone of it is dropped.
#[derive(Debug, Clone)]
pub(super) struct GroupCommitter {
    jobs: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("writes", &self.writes.len())
            .finish_non_exhaustive()
    }
}

impl GroupCommitter {
    /// Starts the writer task on the current tokio runtime. It takes a connection from `pool` for each group and
    /// gives it back after the commit, so it holds none while idle.
    /// Each committed batch is applied to `cache` in commit order, before its caller is answered.
    pub(super) fn start(pool: AnyPool, cache: Arc<cache::Cache>) -> GroupCommitter {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, cache, queue));
        GroupCommitter { jobs }
    }

    /// Performs `writes` in one of the writer's groups; returns once that group's commit is durable.
    pub(super) async fn write(&self, writes: &[Write<'_>]) -> Result<Vec<Written>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            writes: writes.iter().map(OwnedWrite::new).collect(),
            reply,
        };
        self.jobs.send(job).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> Error {
    Error::Database(sqlx::Error::PoolClosed)
}

async fn writer(pool: AnyPool, cache: Arc<cache::Cache>, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let jobs = std::mem::take(&mut group);
        match commit_group(&pool, &jobs).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    if result.is_ok() {
                        committed(&cache, &job.writes).await;
                    }
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                // The group as a whole did not commit (the connection or the disk failed), so nothing of it is
                // stored. Each batch is tried again in its own transaction, and each caller gets the outcome of
                // its own batch: stored, or the real error.
                tracing::warn!(error = %e, batches = jobs.len(), "a group commit failed; committing its batches one by one");
                for job in jobs {
                    let result = commit_one(&pool, &job.writes).await;
                    if result.is_ok() {
                        committed(&cache, &job.writes).await;
                    }
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

/// This task is SQLite's only writer of channel updates and payments, and applies its commits in order.
async fn committed(cache: &cache::Cache, writes: &[OwnedWrite]) {
    let writes = borrowed(writes);
    cache.committed(&writes, true).await;
}

/// Commits every job's writes in one transaction. Nearly every batch succeeds, so they first run one after another
/// with nothing between them; if one fails, that transaction is rolled back and the group runs again with each
/// batch in its own savepoint, where a failing batch is rolled back alone and answered with its error. Returns one
/// result per job once the commit returned.
///
/// Savepoints only on the way back: a savepoint and its release are two statements per batch, each a round trip to
/// SQLite's worker thread, and they were half of the statements a payment made (measured with a uprobe on
/// `sqlite3_step` during the closed-loop bench).
async fn commit_group(pool: &AnyPool, jobs: &[Job]) -> Result<Vec<Result<Vec<Written>>>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let writes = borrowed(&job.writes);
        match run_writes(&mut tx, &writes).await {
            Ok(written) => results.push(Ok(written)),
            Err(e) => {
                tx.rollback().await?;
                if jobs.len() == 1 {
                    return Ok(vec![Err(e)]);
                }
                return commit_group_in_savepoints(pool, jobs).await;
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// [`commit_group`] for a group with a failing batch: each batch in its own savepoint, so the failing ones are
/// undone alone.
async fn commit_group_in_savepoints(
    pool: &AnyPool,
    jobs: &[Job],
) -> Result<Vec<Result<Vec<Written>>>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        sqlx::query("SAVEPOINT batch").execute(&mut *tx).await?;
        let writes = borrowed(&job.writes);
        let result = run_writes(&mut tx, &writes).await;
        if result.is_err() {
            sqlx::query("ROLLBACK TO SAVEPOINT batch")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("RELEASE SAVEPOINT batch")
            .execute(&mut *tx)
            .await?;
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}

async fn commit_one(pool: &AnyPool, writes: &[OwnedWrite]) -> Result<Vec<Written>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let writes = borrowed(writes);
    let written = run_writes(&mut tx, &writes).await?;
    tx.commit().await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(writes: Vec<OwnedWrite>) -> Job {
        Job {
            writes,
            reply: oneshot::channel().0,
        }
    }

    async fn used(pool: &AnyPool, id: B256) -> bool {
        let used: i64 = sqlx::query_scalar("SELECT used FROM quotes WHERE id = $1")
            .bind(key(&id))
            .fetch_one(pool)
            .await
            .expect("the quote's row");
        used != 0
    }

    /// Quotes are the simplest writes that can fail: taking one that is already taken.
    #[tokio::test]
    async fn a_failing_batch_is_undone_alone_and_the_rest_of_its_group_commits() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("node.db").display());
        let store = SqlStore::connect(&url).await.expect("connect");
        let quote = |n: u8| B256::repeat_byte(n);
        for (n, taken) in [(1, 0), (2, 1), (3, 0), (4, 0)] {
            sqlx::query(
                "INSERT INTO quotes (id, channel_id, quote_json, used, expiry) VALUES ($1, $2, '{}', $3, 0)",
            )
            .bind(key(&quote(n)))
            .bind(key(&B256::ZERO))
            .bind(taken)
            .execute(&store.pool)
            .await
            .expect("a quote");
        }
        let take = |n: u8| OwnedWrite::QuoteUsed(quote(n));

        // Alone, the failing batch leaves nothing behind: quote 3 is taken before quote 2 fails.
        let alone = commit_group(&store.pool, &[job(vec![take(3), take(2)])])
            .await
            .expect("the group ran");
        assert!(matches!(alone[..], [Err(Error::QuoteTaken(id))] if id == quote(2)));
        assert!(!used(&store.pool, quote(3)).await, "undone with its batch");

        // In a group, between two good batches: they commit, it is undone whole and gets its own error.
        let results = commit_group(
            &store.pool,
            &[
                job(vec![take(1)]),
                job(vec![take(3), take(2)]),
                job(vec![take(4)]),
            ],
        )
        .await
        .expect("the group ran");
        assert!(matches!(results[0], Ok(ref w) if w == &[Written::Stored]));
        assert!(matches!(results[1], Err(Error::QuoteTaken(id)) if id == quote(2)));
        assert!(matches!(results[2], Ok(ref w) if w == &[Written::Stored]));
        assert!(used(&store.pool, quote(1)).await);
        assert!(!used(&store.pool, quote(3)).await, "undone with its batch");
        assert!(used(&store.pool, quote(4)).await);
    }
}
