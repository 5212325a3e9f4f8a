//! Group commit for SQLite. SQLite has one writer at a time, and every commit in WAL mode with
//! `synchronous = FULL` costs an fsync. So instead of each caller taking the write lock in turn (and sleeping on the
//! busy timeout while another holds it), one thread owns a writing connection ([`SqliteWriter`]) and commits the
//! batches of every caller waiting at that moment in one transaction: one fsync for the whole group. A batch that
//! fails (a stale nonce, a quote already taken) is rolled back alone and its caller gets its own error, while the
//! others commit: the group is then run again with each batch in its own savepoint. Nobody is answered before the
//! commit that holds their batch returned.
//!
//! A thread, not a task: the group runs in one hand-off, where through sqlx every statement was one
//! (`sqlite_writer.rs` says what that cost).

use std::{path::Path, sync::Arc};

use futures_executor::block_on;
use tokio::sync::{mpsc, oneshot};

use super::{sqlite_writer::SqliteWriter, *};

/// The most batches one transaction takes: enough that a group's fsync is shared widely, small enough that one
/// group's work does not delay its first caller by much.
const MAX_GROUP: usize = 256;

/// A [`Write`] that owns its data, so it can travel to the writer thread.
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

/// The handle the store keeps; the writer thread ends when the last clone of it is dropped.
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
    /// Opens the writer's connection to the database at `path` and starts its thread.
    /// Each committed batch is applied to `cache` in commit order, before its caller is answered.
    pub(super) fn start(
        path: &Path,
        cache: Arc<cache::Cache>,
        counts: Arc<Counts>,
    ) -> Result<GroupCommitter> {
        let conn = SqliteWriter::open(path)?;
        let (jobs, queue) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer(conn, &cache, &counts, queue))
            .map_err(|e| Error::Corrupt {
                what: "the SQLite writer thread",
                reason: format!("it did not start: {e}"),
            })?;
        Ok(GroupCommitter { jobs })
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

/// The writer thread: takes every job waiting (after [`LINGER`] when busy), commits them as one group, answers,
/// and sleeps until the next.
fn writer(
    mut conn: SqliteWriter,
    cache: &cache::Cache,
    counts: &Counts,
    mut queue: mpsc::UnboundedReceiver<Job>,
) {
    let mut busy = false;
    while let Some(first) = queue.blocking_recv() {
        let mut jobs = vec![first];
        take_waiting(&mut queue, &mut jobs);
        if busy && jobs.len() < MAX_GROUP {
            std::thread::sleep(LINGER);
            take_waiting(&mut queue, &mut jobs);
        }
        busy = jobs.len() >= BUSY;
        match commit_group(&mut conn, &jobs) {
            Ok(results) => {
                counts.committed(results.iter().filter(|r| r.is_ok()).count() as u64);
                for (job, result) in jobs.into_iter().zip(results) {
                    if result.is_ok() {
                        committed(cache, &job.writes);
                    }
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                // The group as a whole did not commit (the disk failed, say), so nothing of it is stored. Each
                // batch is tried again in its own transaction, and each caller gets the outcome of its own batch:
                // stored, or the real error.
                tracing::warn!(error = %e, batches = jobs.len(), "a group commit failed; committing its batches one by one");
                for job in jobs {
                    let result = commit_one(&mut conn, &job.writes);
                    if result.is_ok() {
                        counts.committed(1);
                        committed(cache, &job.writes);
                    }
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

/// Under load, how long the writer waits after the previous group before it takes the next. A group that runs in one
/// hand-off is fast, so few batches queue behind it: without the wait the closed loop committed groups of about
/// three batches (1.7 fsyncs per payment); with it, 0.6, at the same throughput and less CPU.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// A group at least this large means load, and the next one lingers. Alone or in pairs, as at 50 payments/s, a batch
/// is committed at once: lingering after every group of two measured a higher p50 and p99 there.
const BUSY: usize = 4;

/// Adds the jobs already queued to `jobs`, up to [`MAX_GROUP`].
fn take_waiting(queue: &mut mpsc::UnboundedReceiver<Job>, jobs: &mut Vec<Job>) {
    while jobs.len() < MAX_GROUP {
        match queue.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

/// This thread is SQLite's only writer of channel updates and payments, and applies its commits in order.
fn committed(cache: &cache::Cache, writes: &[OwnedWrite]) {
    let writes = borrowed(writes);
    block_on(cache.committed(&writes, true));
}

/// Runs one batch's writes in the open transaction. They are `writes.rs`'s, shared with sqlx's connections; on this
/// connection they never wait, so `block_on` returns at the first poll.
fn run_batch(conn: &mut SqliteWriter, writes: &[OwnedWrite]) -> Result<Vec<Written>> {
    block_on(run_writes(conn, &borrowed(writes)))
}

/// Commits every job's writes in one transaction. Nearly every batch succeeds, so they first run one after another
/// with nothing between them; if one fails, that transaction is rolled back and the group runs again with each
/// batch in its own savepoint, where a failing batch is rolled back alone and answered with its error. Returns one
/// result per job once the commit returned.
///
/// Savepoints only on the way back: a savepoint and its release are two statements per batch, and they were half of
/// the statements a payment made (measured with a uprobe on `sqlite3_step` during the closed-loop bench).
fn commit_group(conn: &mut SqliteWriter, jobs: &[Job]) -> Result<Vec<Result<Vec<Written>>>> {
    conn.begin()?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        match run_batch(conn, &job.writes) {
            Ok(written) => results.push(Ok(written)),
            Err(e) => {
                conn.rollback()?;
                if jobs.len() == 1 {
                    return Ok(vec![Err(e)]);
                }
                return commit_group_in_savepoints(conn, jobs);
            }
        }
    }
    finish(conn, results)
}

/// [`commit_group`] for a group with a failing batch: each batch in its own savepoint, so the failing ones are
/// undone alone.
fn commit_group_in_savepoints(
    conn: &mut SqliteWriter,
    jobs: &[Job],
) -> Result<Vec<Result<Vec<Written>>>> {
    conn.begin()?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let step = conn.savepoint().and_then(|()| {
            let result = run_batch(conn, &job.writes);
            conn.release(result.is_err())?;
            Ok(result)
        });
        match step {
            Ok(result) => results.push(result),
            Err(e) => {
                conn.rollback()?;
                return Err(e);
            }
        }
    }
    finish(conn, results)
}

fn commit_one(conn: &mut SqliteWriter, writes: &[OwnedWrite]) -> Result<Vec<Written>> {
    conn.begin()?;
    match run_batch(conn, writes) {
        Ok(written) => finish(conn, written),
        Err(e) => {
            conn.rollback()?;
            Err(e)
        }
    }
}

/// Commits the open transaction and returns `done`; rolls back if the commit fails, so the connection is never left
/// inside a transaction.
fn finish<T>(conn: &mut SqliteWriter, done: T) -> Result<T> {
    match conn.commit() {
        Ok(()) => Ok(done),
        Err(e) => {
            conn.rollback()?;
            Err(e)
        }
    }
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
        // A second writer connection beside the store's, driven here without its thread.
        let mut conn = SqliteWriter::open(&dir.path().join("node.db")).expect("a writer");

        // Alone, the failing batch leaves nothing behind: quote 3 is taken before quote 2 fails.
        let alone = commit_group(&mut conn, &[job(vec![take(3), take(2)])]).expect("the group ran");
        assert!(matches!(alone[..], [Err(Error::QuoteTaken(id))] if id == quote(2)));
        assert!(!used(&store.pool, quote(3)).await, "undone with its batch");

        // In a group, between two good batches: they commit, it is undone whole and gets its own error.
        let results = commit_group(
            &mut conn,
            &[
                job(vec![take(1)]),
                job(vec![take(3), take(2)]),
                job(vec![take(4)]),
            ],
        )
        .expect("the group ran");
        assert!(matches!(results[0], Ok(ref w) if w == &[Written::Stored]));
        assert!(matches!(results[1], Err(Error::QuoteTaken(id)) if id == quote(2)));
        assert!(matches!(results[2], Ok(ref w) if w == &[Written::Stored]));
        assert!(used(&store.pool, quote(1)).await);
        assert!(!used(&store.pool, quote(3)).await, "undone with its batch");
        assert!(used(&store.pool, quote(4)).await);
    }
}
