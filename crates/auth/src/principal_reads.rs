//! Every authenticated request re-reads its user (role, suspension, token generation,
//! facilities), so a suspension takes effect at once. When a shift is posted, a thousand
//! nurses may claim it within a few milliseconds: a thousand reads of one row each, every
//! one a round trip and a query for the database to plan and run.
//!
//! Reads that arrive together are answered together. A request adds its user to a queue;
//! while fewer than [`MAX_READERS`] readers run, it starts one. A reader takes everything
//! waiting (up to [`MAX_BATCH`] users) and reads it in one query, and goes on until the
//! queue is empty. A request on an idle server starts a reader at once and waits for its
//! own read only, so nothing is delayed to make a batch; under load the batches form by
//! themselves while earlier reads are in flight.
//!
//! Each read still starts after its request arrived, so it sees every change committed
//! before that: batching changes how many queries run, not what any request sees.

use crate::{AuthError, Principal, users::parse_role};
use sqlx::PgPool;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::sync::oneshot;
use uuid::Uuid;

/// At most this many batched reads run at once (a few of the pool's connections, so
/// sign-in never waits behind them for long).
pub(crate) const MAX_READERS: usize = 4;
/// Users read in one query at most.
pub(crate) const MAX_BATCH: usize = 256;
/// Requests that may wait in the queue; past it, a request reads its user alone.
const MAX_WAITING: usize = 8192;

type Answer = oneshot::Sender<Result<Option<Principal>, AuthError>>;

#[derive(Default)]
struct Queue {
    waiting: Vec<(Uuid, Answer)>,
    readers: usize,
}

/// The shared queue of principal reads. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct PrincipalReads {
    queue: Arc<Mutex<Queue>>,
}

impl PrincipalReads {
    /// The principal `id`, read in a batch with whatever else is waiting.
    pub(crate) async fn read(
        &self,
        pool: &PgPool,
        id: Uuid,
    ) -> Result<Option<Principal>, AuthError> {
        let (answer, answered) = oneshot::channel();
        // `None`: the queue is full. The guard must be gone before any `.await`.
        let start_reader = {
            let mut queue = self.queue.lock().expect("principal queue poisoned");
            if queue.waiting.len() >= MAX_WAITING {
                None
            } else {
                queue.waiting.push((id, answer));
                let start = queue.readers < MAX_READERS;
                if start {
                    queue.readers += 1;
                }
                Some(start)
            }
        };
        let Some(start_reader) = start_reader else {
            return read_principals(pool, &[id])
                .await
                .map(|mut found| found.remove(&id));
        };
        if start_reader {
            // A task of its own: a request whose client goes away (and whose future is
            // dropped) must not strand the reads it took on.
            tokio::spawn(self.clone().reader(pool.clone()));
        }
        answered
            .await
            .unwrap_or_else(|_| Err(AuthError::Internal("a principal read was lost".into())))
    }

    /// Reads batches until nobody waits.
    async fn reader(self, pool: PgPool) {
        let slot = ReaderSlot(self.queue.clone());
        loop {
            let batch: Vec<(Uuid, Answer)> = {
                let mut queue = self.queue.lock().expect("principal queue poisoned");
                if queue.waiting.is_empty() {
                    queue.readers -= 1;
                    std::mem::forget(slot);
                    return;
                }
                let take = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..take).collect()
            };
            metrics::histogram!("auth_principal_batch_size").record(batch.len() as f64);
            let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
            match read_principals(&pool, &ids).await {
                Ok(found) => {
                    for (id, answer) in batch {
                        let _ = answer.send(Ok(found.get(&id).cloned()));
                    }
                }
                Err(error) => {
                    for (_, answer) in batch {
                        let _ = answer.send(Err(copy_of(&error)));
                    }
                }
            }
        }
    }
}

/// Gives a reader's place back if it ends without emptying the queue (a panic), so later
/// requests start another. Its normal end gives the place back under the queue's lock.
struct ReaderSlot(Arc<Mutex<Queue>>);

impl Drop for ReaderSlot {
    fn drop(&mut self) {
        if let Ok(mut queue) = self.0.lock() {
            queue.readers = queue.readers.saturating_sub(1);
        }
    }
}

/// The same error for each request of a failed batch: a database that is down or saturated
/// stays a 503 for every one of them.
fn copy_of(error: &AuthError) -> AuthError {
    match error {
        AuthError::Database(sqlx::Error::PoolTimedOut) => {
            AuthError::Database(sqlx::Error::PoolTimedOut)
        }
        AuthError::Database(sqlx::Error::PoolClosed) => {
            AuthError::Database(sqlx::Error::PoolClosed)
        }
        AuthError::Database(sqlx::Error::Io(e)) => AuthError::Database(sqlx::Error::Io(
            std::io::Error::new(e.kind(), e.to_string()),
        )),
        other => AuthError::Internal(other.to_string()),
    }
}

/// The current role, suspension, token generation and facilities of each of `ids` that
/// still exists, in one query.
pub(crate) async fn read_principals(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Principal>, AuthError> {
    let rows: Vec<(Uuid, String, i32, bool, Vec<Uuid>)> = sqlx::query_as(
        "SELECT u.id, u.role, u.token_epoch, u.suspended_at IS NOT NULL,
                COALESCE(array_agg(sf.facility_id) FILTER (WHERE sf.facility_id IS NOT NULL),
                         '{}')
         FROM users u
         LEFT JOIN staff_facilities sf ON sf.user_id = u.id
         WHERE u.id = ANY($1)
         GROUP BY u.id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(id, role, token_epoch, suspended, facility_ids)| {
            Ok((
                id,
                Principal {
                    id,
                    role: parse_role(&role)?,
                    suspended,
                    facility_ids,
                    token_epoch,
                },
            ))
        })
        .collect()
}
