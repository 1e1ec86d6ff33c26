//! [`Store`] over any backend that runs a transaction body on a [`Sql`]: the one
//! implementation of the domain methods both SQLite and PostgreSQL use.
use std::future::Future;

use std::sync::Mutex;

use super::memsched::MemSched;
use super::replay::{Window, SESSION_PREFIX};
use super::sql::Sql;
use super::*;
use crate::verify::{self, Decision};

/// A database that runs a transaction body.
pub trait Backend: Send + Sync + 'static {
    const NAME: &'static str;
    /// Runs `f` as one transaction and commits when it returns Ok; with `durable` the commit
    /// is flushed to stable storage (SQLite `synchronous=FULL`, PostgreSQL
    /// `synchronous_commit=on`) whatever the store's configured setting. Both logs are
    /// sequential, so the flush also covers every transaction committed before. `f` may run
    /// more than once (PostgreSQL retries a serialization failure), so it only borrows what
    /// it captured.
    fn run_with<R, F>(
        &self,
        op: &'static str,
        durable: bool,
        f: F,
    ) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        R: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<R, StoreError> + Send + Sync + 'static;
    /// [`Backend::run_with`] at the store's configured durability.
    fn run<R, F>(
        &self,
        op: &'static str,
        f: F,
    ) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        R: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<R, StoreError> + Send + Sync + 'static,
    {
        self.run_with(op, false, f)
    }
    /// [`Backend::run_with`], flushed to stable storage.
    fn run_durable<R, F>(
        &self,
        op: &'static str,
        f: F,
    ) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        R: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<R, StoreError> + Send + Sync + 'static,
    {
        self.run_with(op, true, f)
    }
    /// Whether `results.id`s become visible in the order they are handed out, so that every
    /// row a snapshot did not see has an id above the highest it saw (SQLite: one writer).
    /// Retention then scans `results` outside the blob lock and re-checks only the rows
    /// above that mark under it (`closed_jobs`); elsewhere it looks references up by index.
    const IDS_IN_COMMIT_ORDER: bool = false;
    /// Runs `f` as one read-only transaction (one snapshot), on a connection of its own
    /// where the backend has one (SQLite: off the writer, so a long scan holds up no
    /// write); by default as [`Backend::run`].
    fn read<R, F>(
        &self,
        op: &'static str,
        f: F,
    ) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        R: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<R, StoreError> + Send + Sync + 'static,
    {
        self.run(op, f)
    }
    /// See [`Store::lead`].
    fn lead(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

pub struct SqlStore<B> {
    b: B,
    /// The in-memory scheduler (embedded SQLite: one process owns the store), or None
    /// (PostgreSQL: several instances, every lease picked by SQL with `SKIP LOCKED`).
    mem: Option<Mem>,
}

/// What a store only this process writes keeps in memory.
struct Memory {
    sched: Mutex<MemSched>,
    /// Session requests against replays (`replay`): filled and undone on the writer thread.
    replays: Mutex<Window>,
    /// Mixed into session keys, so sessions (and their window) end with this store.
    session_secret: [u8; 32],
}

type Mem = Arc<Memory>;

impl<B: Backend> SqlStore<B> {
    pub fn new(b: B) -> Self {
        Self { b, mem: None }
    }

    /// With the in-memory scheduler and replay window: for a store only this process writes.
    pub fn with_memory(b: B) -> Self {
        let secret = solana_sdk::signature::Keypair::new().to_bytes();
        let mem = Some(Arc::new(Memory {
            sched: Mutex::new(MemSched::default()),
            replays: Mutex::new(Window::default()),
            session_secret: *blake3::hash(&secret).as_bytes(),
        }));
        Self { b, mem }
    }

    /// A transaction that changes which jobs run: the memory schedule is read again after.
    async fn changing_jobs<R, F>(&self, op: &'static str, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<R, StoreError> + Send + Sync + 'static,
    {
        let mem = self.mem.clone();
        self.b
            .run(op, move |tx| {
                let r = f(tx);
                if let Some(m) = &mem {
                    locked(&m.sched).invalidate();
                }
                r
            })
            .await
    }

    /// Runs a body on the memory schedule; a failure other than a replay or a gone lease
    /// (which change nothing) may have left memory ahead of the store: it is read again.
    /// A failed body's session requests leave the replay window, as its rows leave the
    /// store. (A group whose `COMMIT` fails keeps them: a byte-identical resend is then
    /// refused as a replay, which no client sends: each request has a fresh timestamp.)
    async fn on_memory<R, F>(&self, op: &'static str, m: &Mem, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&mut MemSched, Option<&Replays>, &mut dyn Sql) -> Result<R, StoreError>
            + Send
            + Sync
            + 'static,
    {
        let mem = m.clone();
        let r = self
            .b
            .run(op, move |tx| {
                let mut g = locked(&mem.sched);
                locked(&mem.replays).begin();
                let r = f(&mut g, Some(&mem.replays), tx);
                if r.is_err() {
                    locked(&mem.replays).undo();
                }
                if r.as_ref().is_err_and(|e| !harmless(e)) {
                    g.invalidate();
                }
                r
            })
            .await;
        if r.as_ref()
            .is_err_and(|e| matches!(e, StoreError::Commit(_)))
        {
            locked(&m.sched).invalidate();
        }
        r
    }

    fn replays(&self) -> Option<&Replays> {
        self.mem.as_ref().map(|m| &m.replays)
    }
}

type Replays = Mutex<Window>;

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Errors raised before a body changed anything.
fn harmless(e: &StoreError) -> bool {
    matches!(e, StoreError::Replay | StoreError::LeaseGone(_))
}

/// Records a request against replays: a session request in the window when there is one
/// (embedded SQLite), any other as a `seen_sigs` row in the transaction.
fn record(tx: &mut dyn Sql, window: Option<&Replays>, r: &Replay) -> Result<(), StoreError> {
    let new = match window.filter(|_| r.signature.starts_with(SESSION_PREFIX)) {
        Some(w) => locked(w).record(&r.signature, r.timestamp_ms),
        None => remember_signature(tx, &r.signature, r.timestamp_ms)?,
    };
    if new {
        Ok(())
    } else {
        Err(StoreError::Replay)
    }
}

/// The submit transaction: the lease re-checked, then the verification state machine.
fn apply_submission(
    tx: &mut dyn Sql,
    (mem, window): (Option<&mut MemSched>, Option<&Replays>),
    id: i64,
    i: &SubmitInput,
) -> Result<Applied, StoreError> {
    if let Some(r) = &i.replay {
        record(tx, window, r)?;
    }
    let Some(t) = tile_by_lease(tx, id)? else {
        if let Some(m) = mem {
            m.gone(tx, id)?;
        }
        return Err(StoreError::LeaseGone(id));
    };
    if t.lease_node.as_deref() != Some(i.submission.node.as_str()) {
        return Err(StoreError::LeaseGone(id));
    }
    // A cancelled or overdue job's receipt is being built from the tiles verified when it
    // stopped: later results would change it under the poster.
    lock_job(tx, t.job_id)?;
    let running = job_get(tx, t.job_id)?.is_some_and(|j| j.state == job_state::RENDERING);
    if !running {
        return Err(StoreError::LeaseGone(id));
    }
    // A primary render has nothing to be compared with.
    let pending: Vec<_> = if t.need == tile_state::NEED_PRIMARY {
        Vec::new()
    } else {
        pending_results(tx, &t)?
    };
    let d = Decision {
        salt: &i.salt,
        job_key: &i.job_key,
        base_share: i.base_share,
        new_node_share: i.new_node_share,
        now: now_ms(),
    };
    let (outcome, redo) = verify::apply(tx, &t, &pending, &i.submission, &d)?;
    let ready = job_complete(tx, t.job_id)?;
    if ready {
        job_set_state(tx, t.job_id, job_state::READY, None)?;
    }
    let applied = (outcome, redo, ready);
    if let Some(m) = mem {
        let s = &i.submission;
        m.submitted(tx, id, &t, &applied, (&s.node, &s.operator), d.now)?;
    }
    Ok(applied)
}

fn pending_results(tx: &mut dyn Sql, t: &TileRow) -> Result<Vec<ResultRow>, StoreError> {
    Ok(results_of_tile(tx, t.job_id, t.frame, t.tile)?
        .into_iter()
        .filter(|r| r.verdict == "pending")
        .collect())
}

/// The submit context from the store (PostgreSQL, or memory not loaded / missing the lease).
fn context_from_store(
    tx: &mut dyn Sql,
    lease_id: i64,
) -> Result<Option<SubmitContext>, StoreError> {
    let Some(t) = tile_by_lease(tx, lease_id)? else {
        return Ok(None);
    };
    let Some(j) = job_get(tx, t.job_id)? else {
        return Ok(None);
    };
    Ok(Some((t, j)))
}

/// The verifier's transaction: the tile still waits for its comparison with the same
/// pending renders and its job still runs, or stopped (`partial`) and waits for the poster,
/// which settles its comparisons before building the receipt (a stored check is paid or
/// decided, never dropped), then `verify::decide`.
fn settle_compared(
    tx: &mut dyn Sql,
    mem: Option<&mut MemSched>,
    (job_id, frame, tile): (u64, u32, u32),
    rgba: &[(i64, Vec<u8>)],
    min_psnr_db: f64,
) -> Result<Option<Applied>, StoreError> {
    lock_job(tx, job_id)?;
    let job = job_get(tx, job_id)?.map(|j| j.state);
    let running = job.as_deref() == Some(job_state::RENDERING);
    let open = running || job.as_deref() == Some(job_state::PARTIAL);
    let Some(t) = tile_at(tx, job_id, frame, tile)?.filter(|t| t.need == tile_state::NEED_COMPARE)
    else {
        return Ok(None);
    };
    let pending = pending_results(tx, &t)?;
    let same =
        pending.len() == rgba.len() && pending.iter().zip(rgba).all(|(r, (id, _))| r.id == *id);
    if !open || !same {
        return Ok(None);
    }
    let renders: Vec<_> = pending
        .into_iter()
        .zip(rgba)
        .map(|(r, (_, px))| (r, px.clone()))
        .collect();
    let (outcome, redo) = verify::decide(tx, &t, &renders, min_psnr_db)?;
    // A stopped job stays `partial`: its receipt covers what is verified now.
    let ready = running && job_complete(tx, job_id)?;
    if ready {
        job_set_state(tx, job_id, job_state::READY, None)?;
    }
    let applied = (outcome, redo, ready);
    if let Some(m) = mem {
        m.compared(tx, (job_id, frame, tile), &applied)?;
    }
    Ok(Some(applied))
}

#[async_trait::async_trait]
impl<B: Backend> Store for SqlStore<B> {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    fn session_secret(&self) -> Option<[u8; 32]> {
        self.mem.as_ref().map(|m| m.session_secret)
    }

    async fn salt(&self) -> Result<[u8; 32], StoreError> {
        self.b.run("salt", |tx| salt(tx)).await
    }

    async fn expire_leases(&self, now: i64) -> Result<Vec<(u64, u32, u32)>, StoreError> {
        if let Some(m) = &self.mem {
            return self
                .on_memory("expire_leases", m, move |m, _, tx| m.expire(tx, now))
                .await;
        }
        self.b
            .run("expire_leases", move |tx| expire_leases(tx, now))
            .await
    }

    async fn sweep(
        &self,
        sigs_before: i64,
        now: i64,
        scene_ttl_ms: Option<i64>,
    ) -> Result<Vec<String>, StoreError> {
        if let Some(w) = self.replays() {
            locked(w).forget_before(sigs_before);
        }
        self.b
            .run("sweep", move |tx| {
                forget_signatures(tx, sigs_before)?;
                match scene_ttl_ms {
                    Some(ttl) => expire_scenes(tx, now, ttl),
                    None => Ok(Vec::new()),
                }
            })
            .await
    }

    async fn remember(&self, replay: Replay) -> Result<(), StoreError> {
        let window = self.mem.clone();
        self.b
            .run("remember", move |tx| {
                record(tx, window.as_ref().map(|m| &m.replays), &replay)
            })
            .await
    }

    async fn lease(
        &self,
        replay: Replay,
        node: String,
        operator: String,
        benchmark_score: u64,
        now: i64,
        policy: LeasePolicy,
        verifies: Verifies,
    ) -> Result<Grant, StoreError> {
        if let Some(m) = &self.mem {
            return self
                .on_memory("lease", m, move |m, w, tx| {
                    record(tx, w, &replay)?;
                    m.lease(
                        tx,
                        &node,
                        &operator,
                        benchmark_score,
                        now,
                        policy,
                        &verifies,
                    )
                })
                .await;
        }
        self.b
            .run("lease", move |tx| {
                record(tx, None, &replay)?;
                let (n, o) = (&node, &operator);
                crate::scheduler::lease(tx, n, o, benchmark_score, now, policy, &verifies)
            })
            .await
    }

    async fn heartbeat(
        &self,
        replay: Replay,
        lease_id: i64,
        node: String,
        deadline: i64,
        now: i64,
        max_lifetime_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        if let Some(m) = &self.mem {
            return self
                .on_memory("heartbeat", m, move |m, w, tx| {
                    record(tx, w, &replay)?;
                    let r = heartbeat(tx, lease_id, &node, deadline, now, max_lifetime_ms)?;
                    if let Some(d) = r {
                        m.extended(lease_id, d);
                    }
                    Ok(r)
                })
                .await;
        }
        self.b
            .run("heartbeat", move |tx| {
                record(tx, None, &replay)?;
                heartbeat(tx, lease_id, &node, deadline, now, max_lifetime_ms)
            })
            .await
    }

    async fn submit_context(&self, lease_id: i64) -> Result<Option<SubmitContext>, StoreError> {
        if let Some(m) = &self.mem {
            // Answered from memory, without the writer, for every role alike (a check's
            // submit must not take longer than a primary's).
            if let Some(hit) = locked(&m.sched).peek(lease_id) {
                return Ok(Some(hit));
            }
        }
        self.b
            .run("submit_context", move |tx| context_from_store(tx, lease_id))
            .await
    }

    async fn refuse_submission(
        &self,
        lease_id: i64,
        node: String,
        replay: Option<Replay>,
    ) -> Result<(), StoreError> {
        if let Some(m) = &self.mem {
            return self
                .on_memory("refuse_submission", m, move |m, w, tx| {
                    if let Some(r) = &replay {
                        record(tx, w, r)?;
                    }
                    refuse_submission(tx, lease_id, &node)?;
                    m.refused(tx, lease_id, &node)
                })
                .await;
        }
        self.b
            .run("refuse_submission", move |tx| {
                if let Some(r) = &replay {
                    record(tx, None, r)?;
                }
                refuse_submission(tx, lease_id, &node)
            })
            .await
    }

    async fn submit(&self, lease_id: i64, input: SubmitInput) -> Result<Applied, StoreError> {
        if let Some(m) = &self.mem {
            return self
                .on_memory("submit", m, move |m, w, tx| {
                    apply_submission(tx, (Some(m), w), lease_id, &input)
                })
                .await;
        }
        self.b
            .run("submit", move |tx| {
                apply_submission(tx, (None, None), lease_id, &input)
            })
            .await
    }

    async fn submit_and_lease(
        &self,
        lease_id: i64,
        input: SubmitInput,
        next: Option<NextLease>,
    ) -> Result<(Applied, Option<Result<Grant, StoreError>>), StoreError> {
        let Some(m) = &self.mem else {
            // PostgreSQL: each its own transaction on the pool, as the trait's default.
            let applied = self.submit(lease_id, input).await?;
            let Some(n) = next else {
                return Ok((applied, None));
            };
            let g = self
                .lease(
                    n.replay,
                    n.node,
                    n.operator,
                    n.benchmark_score,
                    n.now,
                    n.policy,
                    n.verifies,
                )
                .await;
            return Ok((applied, Some(g)));
        };
        self.on_memory("submit", m, move |m, w, tx| {
            let applied = apply_submission(tx, (Some(&mut *m), w), lease_id, &input)?;
            let next = next.as_ref().map(|n| {
                // Its own savepoint: a refused lease leaves the recorded submit as it is.
                tx.exec("SAVEPOINT next", &[])?;
                // The submit's replay record, in this same transaction, already covers the
                // whole request: a second row for its lease would only cost WAL pages.
                let recorded = match &input.replay {
                    Some(_) => Ok(()),
                    // A row, so that `ROLLBACK TO next` takes it back with the lease.
                    None => record(tx, None, &n.replay),
                };
                let g = recorded.and_then(|()| {
                    let (score, now) = (n.benchmark_score, n.now);
                    m.lease(tx, &n.node, &n.operator, score, now, n.policy, &n.verifies)
                });
                if g.as_ref().is_err_and(|e| !harmless(e)) {
                    m.invalidate();
                }
                if g.is_err() {
                    tx.exec("ROLLBACK TO next", &[])?;
                }
                tx.exec("RELEASE next", &[])?;
                Ok::<_, StoreError>(g)
            });
            Ok((applied, next.transpose()?))
        })
        .await
    }

    async fn comparisons_due(&self) -> Result<Vec<(u64, u32, u32)>, StoreError> {
        self.b.run("comparisons_due", comparisons_due).await
    }

    async fn job_comparisons_due(&self, job_id: u64) -> Result<Vec<(u32, u32)>, StoreError> {
        self.b
            .run("job_comparisons_due", move |tx| {
                job_comparisons_due(tx, job_id)
            })
            .await
    }

    async fn comparison(
        &self,
        job_id: u64,
        frame: u32,
        tile: u32,
    ) -> Result<Option<Vec<ResultRow>>, StoreError> {
        self.b
            .run("comparison", move |tx| {
                let t = tile_at(tx, job_id, frame, tile)?;
                match t.filter(|t| t.need == tile_state::NEED_COMPARE) {
                    Some(t) => pending_results(tx, &t).map(Some),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn settle_comparison(
        &self,
        job_id: u64,
        frame: u32,
        tile: u32,
        rgba: Vec<(i64, Vec<u8>)>,
        min_psnr_db: f64,
    ) -> Result<Option<Applied>, StoreError> {
        let at = (job_id, frame, tile);
        if let Some(m) = &self.mem {
            return self
                .on_memory("settle_comparison", m, move |m, _, tx| {
                    settle_compared(tx, Some(m), at, &rgba, min_psnr_db)
                })
                .await;
        }
        self.b
            .run("settle_comparison", move |tx| {
                settle_compared(tx, None, at, &rgba, min_psnr_db)
            })
            .await
    }

    async fn scene_exists(&self, hash: String) -> Result<bool, StoreError> {
        self.b
            .run("scene_exists", move |tx| scene_exists(tx, &hash))
            .await
    }

    async fn scene_insert(
        &self,
        hash: String,
        size: usize,
        expires_ms: i64,
    ) -> Result<bool, StoreError> {
        self.b
            .run("scene_insert", move |tx| {
                scene_insert(tx, &hash, size, expires_ms)
            })
            .await
    }

    async fn job_get(&self, job_id: u64) -> Result<Option<JobRow>, StoreError> {
        self.b.run("job_get", move |tx| job_get(tx, job_id)).await
    }

    async fn job_insert(&self, job: JobRow, tiles_per_frame: u32) -> Result<bool, StoreError> {
        self.changing_jobs("job_insert", move |tx| {
            job_insert(tx, &job, tiles_per_frame)
        })
        .await
    }

    /// This read and the job's tiles, evidence and paid checks below scan a whole job; on
    /// SQLite's read connection they hold up no lease or submit (on the writer a progress
    /// poll of a 16 384-tile job took 4.8 ms of it, the queue depth 7–10 ms).
    async fn job_progress(&self, job_id: u64, since_ms: i64) -> Result<Progress, StoreError> {
        self.b
            .read("job_progress", move |tx| {
                Ok((
                    counts(tx, job_id)?,
                    frame_progress(tx, job_id)?,
                    recent_done(tx, job_id, since_ms)?,
                ))
            })
            .await
    }

    async fn tiles_of_frame(&self, job_id: u64, frame: u32) -> Result<Vec<TileRow>, StoreError> {
        self.b
            .read("tiles_of_frame", move |tx| {
                tiles_of_frame(tx, job_id, frame)
            })
            .await
    }

    async fn tiles_of_job(&self, job_id: u64) -> Result<Vec<TileRow>, StoreError> {
        self.b
            .read("tiles_of_job", move |tx| tiles_of_job(tx, job_id))
            .await
    }

    async fn evidence_of_job(&self, job_id: u64) -> Result<Vec<serde_json::Value>, StoreError> {
        self.b
            .read("evidence_of_job", move |tx| evidence_of_job(tx, job_id))
            .await
    }

    async fn paid_verifications(&self, job_id: u64) -> Result<Vec<PaidVerification>, StoreError> {
        self.b
            .read("paid_verifications", move |tx| {
                paid_verifications(tx, job_id)
            })
            .await
    }

    async fn jobs_in_state(&self, state: &'static str) -> Result<Vec<JobRow>, StoreError> {
        self.b
            .run("jobs_in_state", move |tx| jobs_in_state(tx, state))
            .await
    }

    async fn job_set_state(
        &self,
        job_id: u64,
        state: &'static str,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        self.changing_jobs("job_set_state", move |tx| {
            job_set_state(tx, job_id, state, error.as_deref())
        })
        .await
    }

    async fn job_set_receipt_tx(
        &self,
        job_id: u64,
        receipt: Vec<u8>,
        sig: String,
    ) -> Result<String, StoreError> {
        self.b
            .run_durable("job_set_receipt_tx", move |tx| {
                job_set_receipt_tx(tx, job_id, &receipt, &sig)?;
                commit_durability(tx)
            })
            .await
    }

    async fn job_receipt_tx(&self, job_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.b
            .run("job_receipt_tx", move |tx| job_receipt_tx(tx, job_id))
            .await
    }

    async fn node_summary(
        &self,
        node: String,
    ) -> Result<(Option<NodeRecord>, Vec<(u64, u64)>), StoreError> {
        // A public endpoint whose count scans the tiles (no index by node since V11): on
        // SQLite's read connection it holds up no lease or submit.
        self.b
            .read("node_summary", move |tx| {
                Ok((node_record(tx, &node)?, jobs_of_node(tx, &node)?))
            })
            .await
    }

    async fn lead(&self) -> Result<bool, StoreError> {
        self.b.lead().await
    }

    async fn queue_depth(&self) -> Result<u64, StoreError> {
        self.b.read("queue_depth", |tx| queue_depth(tx)).await
    }

    async fn closed_unchecked(&self) -> Result<Vec<u64>, StoreError> {
        self.b
            .run("closed_unchecked", |tx| closed_jobs::unchecked(tx))
            .await
    }

    async fn mark_closed(&self, job_id: u64, now: i64) -> Result<(), StoreError> {
        self.b
            .run("mark_closed", move |tx| {
                closed_jobs::mark_closed(tx, job_id, now)
            })
            .await
    }

    async fn purge_due(&self, now: i64, retention_ms: i64) -> Result<Vec<u64>, StoreError> {
        self.b
            .run("purge_due", move |tx| {
                closed_jobs::due(tx, now, retention_ms)
            })
            .await
    }

    async fn doomed_scan(&self, job_id: u64) -> Result<Scanned, StoreError> {
        if !B::IDS_IN_COMMIT_ORDER {
            return Ok(Scanned::default());
        }
        self.b
            .read("doomed_scan", move |tx| {
                closed_jobs::doomed_scan(tx, job_id)
            })
            .await
    }

    async fn doomed_blobs(&self, job_id: u64, scan: Scanned) -> Result<Vec<String>, StoreError> {
        self.b
            .run("doomed_blobs", move |tx| match scan.mark {
                Some(mark) => closed_jobs::doomed_since(tx, job_id, &scan.blobs, mark),
                None => closed_jobs::doomed_blobs(tx, job_id),
            })
            .await
    }

    async fn mark_purged(&self, job_id: u64, now: i64) -> Result<(), StoreError> {
        self.b
            .run("mark_purged", move |tx| {
                closed_jobs::mark_purged(tx, job_id, now)
            })
            .await
    }

    async fn reconcile_due(&self) -> Result<Vec<(u64, String)>, StoreError> {
        self.b.run("reconcile_due", |tx| reconcile::due(tx)).await
    }

    async fn mark_chain_state(
        &self,
        job_id: u64,
        chain_state: &'static str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.b
            .run("mark_chain_state", move |tx| {
                reconcile::mark(tx, job_id, chain_state, now)
            })
            .await
    }

    async fn chain_state(&self, job_id: u64) -> Result<Option<String>, StoreError> {
        self.b
            .run("chain_state", move |tx| reconcile::get(tx, job_id))
            .await
    }

    async fn agreed_renders(
        &self,
        job_id: u64,
    ) -> Result<Vec<(u32, u32, String, String)>, StoreError> {
        self.b
            .run("agreed_renders", move |tx| reconcile::agreed(tx, job_id))
            .await
    }

    async fn unreferenced_scan(&self, hashes: Vec<String>) -> Result<Scanned, StoreError> {
        if !B::IDS_IN_COMMIT_ORDER {
            return Ok(Scanned {
                blobs: hashes,
                mark: None,
            });
        }
        self.b
            .read("unreferenced_scan", move |tx| {
                closed_jobs::unreferenced_scan(tx, &hashes)
            })
            .await
    }

    async fn unreferenced_blobs(
        &self,
        hashes: Vec<String>,
        mark: Option<i64>,
    ) -> Result<Vec<String>, StoreError> {
        self.b
            .run("unreferenced_blobs", move |tx| match mark {
                Some(mark) => closed_jobs::unreferenced_since(tx, &hashes, mark),
                None => closed_jobs::unreferenced(tx, &hashes),
            })
            .await
    }
}
