//! The commit thread: the one place where an Accept is made durable, and
//! then sent.
//!
//! Transports hand over an Accept as a [`Job`]: the [`UseCommit`] that must
//! win, and what to do once it is decided. The verifier hands over the
//! failures it counts ([`FailureSink`]). The thread takes everything handed
//! over so far and writes it with one [`TokenStore::commit`] (one
//! transaction), so one commit serves every Accept that arrived while the
//! previous one ran. Only then does each job learn its outcome: won (send
//! the Accept), lost (another request or server used the code first: send
//! the Reject), or failed (the store is down: send nothing, the NAS
//! retries or fails over, and its retry is verified afresh).
//!
//! While the store is failing the thread logs once, counts every failed
//! commit in the store health, keeps the failures it could not write
//! (bounded) and retries them, and logs once more when a commit succeeds
//! again. Rejects, Challenges and Status-Server replies never come here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::{Failure, StoreError, TokenStore, UseCommit};
use crate::verify::FailureSink;

use super::stats::Stats;

/// Accepts waiting for the commit thread at most; a transport with more to
/// hand over waits until the next commit takes them (back-pressure on a
/// slow database, instead of memory without bound).
pub const MAX_PENDING: usize = 16_384;

/// Failures kept for a retry while the store is failing, at most.
const MAX_FAILURES: usize = 100_000;

/// What a job learns: `Ok(true)` won, `Ok(false)` lost, `Err` not written.
pub type Decided<'a> = Result<bool, &'a StoreError>;

/// One Accept waiting for its commit.
pub struct Job {
    /// The change that must win.
    pub commit: UseCommit,
    /// Called once with the outcome, on the commit thread.
    pub done: Box<dyn FnOnce(Decided<'_>) + Send>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    failures: Vec<Failure>,
    /// Failures queued or being written, per user.
    pending: HashMap<PendingKey, u32>,
    stop: bool,
}

/// Group-commit and store-health counters.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Commits (transactions) that succeeded.
    pub commits: AtomicU64,
    /// Accepts decided by them.
    pub accepts: AtomicU64,
    /// Accepts that lost their commit (the code was used first).
    pub lost: AtomicU64,
    /// Largest number of Accepts one commit served.
    pub max_batch: AtomicU64,
    /// Commits that failed (their Accepts were not sent).
    pub failures: AtomicU64,
    /// Accepts withheld because their commit failed.
    pub withheld: AtomicU64,
    /// Failures dropped because the store stayed down too long.
    pub failures_dropped: AtomicU64,
    /// The store's last commit failed.
    pub down: AtomicBool,
    /// Times the store went down.
    pub outages: AtomicU64,
}

impl CommitStats {
    /// The counters as JSON (`radotp stats`).
    pub fn to_json(&self) -> serde_json::Value {
        let c = self.commits.load(Ordering::Relaxed);
        let a = self.accepts.load(Ordering::Relaxed);
        serde_json::json!({
            "commits": c,
            "accepts": a,
            "lost": self.lost.load(Ordering::Relaxed),
            "mean_batch": if c == 0 { 0.0 } else { a as f64 / c as f64 },
            "max_batch": self.max_batch.load(Ordering::Relaxed),
            "failures": self.failures.load(Ordering::Relaxed),
            "withheld": self.withheld.load(Ordering::Relaxed),
            "failures_dropped": self.failures_dropped.load(Ordering::Relaxed),
            "store_healthy": !self.down.load(Ordering::Relaxed),
            "store_outages": self.outages.load(Ordering::Relaxed),
        })
    }
}

/// The hand-over to the commit thread.
pub struct CommitQueue {
    queue: Mutex<Queue>,
    /// Work was handed over, or stop.
    work: Condvar,
    /// The commit thread took what was queued.
    room: Condvar,
    store: Arc<dyn TokenStore>,
    stats: Arc<CommitStats>,
    request_stats: Arc<Stats>,
}

impl CommitQueue {
    /// A queue in front of `store`.
    pub fn new(
        store: Arc<dyn TokenStore>,
        stats: Arc<CommitStats>,
        request_stats: Arc<Stats>,
    ) -> Self {
        CommitQueue {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            store,
            stats,
            request_stats,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands over Accepts; waits while [`MAX_PENDING`] are already waiting.
    pub fn submit(&self, jobs: impl IntoIterator<Item = Job>) {
        let mut q = self.lock();
        while q.jobs.len() >= MAX_PENDING && !q.stop {
            q = self.room.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.jobs.extend(jobs);
        drop(q);
        self.work.notify_one();
    }

    /// Starts the commit thread.
    pub fn start(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let this = self.clone();
        std::thread::Builder::new()
            .name("radotp-commit".into())
            .spawn(move || this.run())
    }

    /// Asks the commit thread to finish what is queued and stop.
    pub fn stop(&self) {
        self.lock().stop = true;
        self.work.notify_all();
        self.room.notify_all();
    }

    fn run(&self) {
        let mut retry = false;
        loop {
            let (jobs, failures) = {
                let mut q = self.lock();
                loop {
                    let ready = !q.jobs.is_empty() || (!q.failures.is_empty() && !retry);
                    if ready || q.stop {
                        break;
                    }
                    if retry {
                        // Failures waiting on a store that failed: try again soon.
                        let (g, _) = self
                            .work
                            .wait_timeout(q, Duration::from_millis(200))
                            .unwrap_or_else(|e| e.into_inner());
                        q = g;
                        retry = false;
                    } else {
                        q = self.work.wait(q).unwrap_or_else(|e| e.into_inner());
                    }
                }
                if q.jobs.is_empty() && q.failures.is_empty() {
                    return;
                }
                (std::mem::take(&mut q.jobs), std::mem::take(&mut q.failures))
            };
            self.room.notify_all();
            let ok = self.commit(jobs, failures);
            retry = !ok;
            if !ok && self.lock().stop {
                return;
            }
        }
    }

    /// One commit of `jobs` and `failures`; false when the store failed.
    fn commit(&self, jobs: Vec<Job>, failures: Vec<Failure>) -> bool {
        let uses: Vec<UseCommit> = jobs.iter().map(|j| j.commit.clone()).collect();
        let started = Instant::now();
        let result = self.store.commit(&uses, &failures);
        self.request_stats
            .commit_latency
            .observe(started.elapsed().as_micros() as u64);
        let n = jobs.len() as u64;
        match result {
            Ok(won) => {
                self.stats.down.store(false, Ordering::Relaxed);
                self.request_stats.store.ok();
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats.accepts.fetch_add(n, Ordering::Relaxed);
                self.stats.max_batch.fetch_max(n, Ordering::Relaxed);
                self.settle(&failures);
                for (job, won) in jobs.into_iter().zip(won) {
                    if !won {
                        self.stats.lost.fetch_add(1, Ordering::Relaxed);
                    }
                    (job.done)(Ok(won));
                }
                true
            }
            Err(e) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                self.stats.withheld.fetch_add(n, Ordering::Relaxed);
                if !self.stats.down.swap(true, Ordering::Relaxed) {
                    self.stats.outages.fetch_add(1, Ordering::Relaxed);
                }
                self.request_stats.store.failed("commit", &e);
                for job in jobs {
                    (job.done)(Err(&e));
                }
                // Keep the failures for the next commit, the oldest first.
                let mut q = self.lock();
                let mut keep = failures;
                keep.append(&mut q.failures);
                if keep.len() > MAX_FAILURES {
                    let drop_n = keep.len() - MAX_FAILURES;
                    let dropped: Vec<Failure> = keep.drain(..drop_n).collect();
                    self.stats
                        .failures_dropped
                        .fetch_add(drop_n as u64, Ordering::Relaxed);
                    settle_in(&mut q.pending, &dropped);
                }
                q.failures = keep;
                false
            }
        }
    }

    /// `failures` are written: no longer pending.
    fn settle(&self, failures: &[Failure]) {
        if failures.is_empty() {
            return;
        }
        settle_in(&mut self.lock().pending, failures);
    }
}

/// Whose failures are pending: the user, and the source under `[lockout]
/// scope = "user+source"` (`None`: the user's own count).
type PendingKey = (String, Option<String>);

fn pending_key(f: &Failure) -> PendingKey {
    (f.user.clone(), f.source.clone())
}

fn settle_in(pending: &mut HashMap<PendingKey, u32>, failures: &[Failure]) {
    for f in failures {
        let k = pending_key(f);
        if let Some(n) = pending.get_mut(&k) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pending.remove(&k);
            }
        }
    }
}

impl FailureSink for CommitQueue {
    fn push(&self, failure: Failure) {
        let mut q = self.lock();
        *q.pending.entry(pending_key(&failure)).or_default() += 1;
        q.failures.push(failure);
        drop(q);
        self.work.notify_one();
    }

    fn pending(&self, user: &str, source: Option<&str>) -> u32 {
        let k = (user.to_string(), source.map(str::to_string));
        self.lock().pending.get(&k).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{token, use_of};
    use crate::store::{MemoryStore, User};
    use std::sync::mpsc;

    fn queue(store: Arc<dyn TokenStore>) -> (Arc<CommitQueue>, Arc<CommitStats>) {
        let stats = Arc::new(CommitStats::default());
        let q = Arc::new(CommitQueue::new(
            store,
            stats.clone(),
            Arc::new(Stats::default()),
        ));
        (q, stats)
    }

    fn job(c: UseCommit, tx: &mpsc::Sender<Result<bool, String>>) -> Job {
        let tx = tx.clone();
        Job {
            commit: c,
            done: Box::new(move |r| {
                let _ = tx.send(r.map_err(|e| e.to_string()));
            }),
        }
    }

    #[test]
    fn rfc6238_5_2_second_use_of_a_code_in_one_batch_loses() {
        let store = Arc::new(MemoryStore::new());
        store.insert_user(&User::new("u", 1)).unwrap();
        store.insert_token(&token("t", "u", b"s")).unwrap();
        let (q, stats) = queue(store.clone());
        let (tx, rx) = mpsc::channel();
        q.submit([
            job(use_of("t", "u", None, 5), &tx),
            job(use_of("t", "u", None, 5), &tx),
        ]);
        q.push(Failure {
            user: "u".into(),
            now: 1,
            rule: crate::store::LockRule::NEVER,
            source: None,
        });
        assert_eq!(q.pending("u", None), 1);
        let t = q.start().unwrap();
        let got: Vec<_> = (0..2).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(got, [Ok(true), Ok(false)]);
        q.stop();
        t.join().unwrap();
        assert_eq!(
            q.pending("u", None),
            0,
            "written failures are no longer pending"
        );
        assert_eq!(store.user("u").unwrap().unwrap().failures, 1);
        assert_eq!(stats.lost.load(Ordering::Relaxed), 1);
    }

    /// A store whose commits fail while `down` is set.
    struct Flaky {
        inner: MemoryStore,
        down: AtomicBool,
    }

    impl TokenStore for Flaky {
        fn user(&self, n: &str) -> Result<Option<User>, StoreError> {
            self.inner.user(n)
        }
        fn users(&self) -> Result<Vec<User>, StoreError> {
            self.inner.users()
        }
        fn insert_user(&self, u: &User) -> Result<(), StoreError> {
            self.inner.insert_user(u)
        }
        fn update_user(&self, u: &User) -> Result<(), StoreError> {
            self.inner.update_user(u)
        }
        fn delete_user(&self, n: &str) -> Result<(), StoreError> {
            self.inner.delete_user(n)
        }
        fn token(&self, id: &str) -> Result<Option<crate::store::Token>, StoreError> {
            self.inner.token(id)
        }
        fn tokens(&self) -> Result<Vec<crate::store::Token>, StoreError> {
            self.inner.tokens()
        }
        fn tokens_of(&self, o: &str) -> Result<Vec<crate::store::Token>, StoreError> {
            self.inner.tokens_of(o)
        }
        fn insert_token(&self, t: &crate::store::Token) -> Result<(), StoreError> {
            self.inner.insert_token(t)
        }
        fn update_token(&self, t: &crate::store::Token) -> Result<(), StoreError> {
            self.inner.update_token(t)
        }
        fn delete_token(&self, id: &str) -> Result<(), StoreError> {
            self.inner.delete_token(id)
        }
        fn commit_use(
            &self,
            id: &str,
            e: Option<u64>,
            n: u64,
            d: i64,
            now: u64,
            a: bool,
        ) -> Result<bool, StoreError> {
            self.inner.commit_use(id, e, n, d, now, a)
        }
        fn commit(
            &self,
            uses: &[UseCommit],
            failures: &[Failure],
        ) -> Result<Vec<bool>, StoreError> {
            if self.down.load(Ordering::Relaxed) {
                return Err(StoreError::Unavailable("test outage".into()));
            }
            self.inner.commit(uses, failures)
        }
        fn record_failure(
            &self,
            n: &str,
            now: u64,
            rule: crate::store::LockRule,
        ) -> Result<Option<User>, StoreError> {
            self.inner.record_failure(n, now, rule)
        }
        fn record_success(&self, n: &str, now: u64) -> Result<(), StoreError> {
            self.inner.record_success(n, now)
        }
        fn sync(&self) -> Result<(), StoreError> {
            Ok(())
        }
        fn counts(&self) -> Result<(usize, usize), StoreError> {
            self.inner.counts()
        }
        fn import(&self, u: &[User], t: &[crate::store::Token]) -> Result<(), StoreError> {
            self.inner.import(u, t)
        }
    }

    #[test]
    fn store_down_withholds_accepts_keeps_failures_and_recovers() {
        let store = Arc::new(Flaky {
            inner: MemoryStore::new(),
            down: AtomicBool::new(true),
        });
        store.insert_user(&User::new("u", 1)).unwrap();
        store.insert_token(&token("t", "u", b"s")).unwrap();
        let (q, stats) = queue(store.clone());
        let t = q.start().unwrap();
        let (tx, rx) = mpsc::channel();
        q.push(Failure {
            user: "u".into(),
            now: 1,
            rule: crate::store::LockRule::NEVER,
            source: None,
        });
        q.submit([job(use_of("t", "u", None, 5), &tx)]);
        assert_eq!(
            rx.recv().unwrap(),
            Err("store unavailable: test outage".into())
        );
        assert!(stats.down.load(Ordering::Relaxed));
        assert_eq!(q.pending("u", None), 1, "the failure waits for the store");
        store.down.store(false, Ordering::Relaxed);
        q.submit([job(use_of("t", "u", None, 5), &tx)]);
        assert_eq!(rx.recv().unwrap(), Ok(true));
        let deadline = Instant::now() + Duration::from_secs(5);
        while q.pending("u", None) != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            store.user("u").unwrap().unwrap().failures,
            1,
            "kept and written after recovery"
        );
        assert!(!stats.down.load(Ordering::Relaxed));
        assert_eq!(stats.outages.load(Ordering::Relaxed), 1);
        q.stop();
        t.join().unwrap();
    }
}
