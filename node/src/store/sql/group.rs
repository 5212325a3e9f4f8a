//! Group commit for SQLite. SQLite has one writer at a time, and every commit in WAL mode with
//! `synchronous = FULL` costs an fsync. So instead of each caller taking the write lock in turn (and sleeping on the
//! busy timeout while another holds it), one task owns a writing connection and commits the batches of every caller
//! waiting at that moment in one transaction: one fsync for the whole group. Each batch runs inside its own
//! savepoint, so a batch that fails (a stale nonce, a quote already taken) is rolled back alone and its caller gets
//! its own error, while the others commit. Nobody is answered before the commit that holds their batch returned.

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
    let writes: Vec<Write<'_>> = writes.iter().map(OwnedWrite::as_write).collect();
    cache.committed(&writes, true).await;
}

/// Commits every job's writes in one transaction, each in its own savepoint; a job whose writes fail is rolled
/// back to its savepoint and answered with its error. Returns one result per job once the commit returned.
async fn commit_group(pool: &AnyPool, jobs: &[Job]) -> Result<Vec<Result<Vec<Written>>>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if let [job] = jobs {
        // Alone in its group, a batch needs no savepoint: if it fails, the whole transaction goes. Two statements
        // fewer, which is most of a quiet node's commits.
        let writes: Vec<Write<'_>> = job.writes.iter().map(OwnedWrite::as_write).collect();
        return Ok(vec![match run_writes(&mut tx, &writes).await {
            Ok(written) => {
                tx.commit().await?;
                Ok(written)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }]);
    }
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        tx.execute("SAVEPOINT batch").await?;
        let writes: Vec<Write<'_>> = job.writes.iter().map(OwnedWrite::as_write).collect();
        let result = run_writes(&mut tx, &writes).await;
        if result.is_err() {
            tx.execute("ROLLBACK TO SAVEPOINT batch").await?;
        }
        tx.execute("RELEASE SAVEPOINT batch").await?;
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}

async fn commit_one(pool: &AnyPool, writes: &[OwnedWrite]) -> Result<Vec<Written>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let writes: Vec<Write<'_>> = writes.iter().map(OwnedWrite::as_write).collect();
    let written = run_writes(&mut tx, &writes).await?;
    tx.commit().await?;
    Ok(written)
}
