//! The datagram path: a few worker threads per UDP socket and one committer.
//!
//! Each worker blocks in `recv_from` on its socket (the kernel hands each
//! datagram to one waiting worker), runs [`Handler::handle`] inline and
//! sends the reply itself — two system calls per request, no task or thread
//! hand-off. The handler's verifier does not flush (see
//! [`Verifier::with_deferred_sync`](crate::verify::Verifier::with_deferred_sync)),
//! so a worker never waits for the disk.
//!
//! An Access-Accept, whose replay commit must be on disk before the NAS
//! sees it, goes to the committer instead: it takes every Accept queued so
//! far, flushes the store once ([`TokenStore::sync`]), then sends them all.
//! Accepts queued during that flush wait for the next one. This is group
//! commit: one flush serves every request accepted while the previous flush
//! ran, so the flush rate adapts to the disk and the batch grows with the
//! load. Rejects and accounting replies need nothing durable and go at once.
//! A retransmission answered from the duplicate cache with an Accept takes
//! the same path, so no Accept ever leaves before its commit is durable.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::radius::Code;
use crate::store::TokenStore;

use super::handler::{Handler, Port};
use super::stats::DropReason;

/// Group-commit counters of the daemon.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Flushes made for Accepts.
    pub flushes: AtomicU64,
    /// Accepts sent after a flush.
    pub accepts: AtomicU64,
    /// Largest batch of Accepts one flush served.
    pub max_batch: AtomicU64,
    /// Flushes that failed (their Accepts were not sent).
    pub failures: AtomicU64,
}

impl CommitStats {
    /// The counters as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let f = self.flushes.load(Ordering::Relaxed);
        let a = self.accepts.load(Ordering::Relaxed);
        serde_json::json!({
            "flushes": f,
            "accepts": a,
            "mean_batch": if f == 0 { 0.0 } else { a as f64 / f as f64 },
            "max_batch": self.max_batch.load(Ordering::Relaxed),
            "failures": self.failures.load(Ordering::Relaxed),
        })
    }
}

type Queued = (Arc<UdpSocket>, SocketAddr, Vec<u8>);

struct Queue {
    items: Mutex<(Vec<Queued>, bool)>,
    ready: Condvar,
}

/// The running workers and committer.
pub struct Workers {
    threads: Vec<std::thread::JoinHandle<()>>,
    committer: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    queue: Arc<Queue>,
}

/// A blocking std socket sharing `sock`'s file description (the tokio
/// socket stays bound, for its address, but is no longer read).
pub fn std_socket(sock: &tokio::net::UdpSocket) -> std::io::Result<UdpSocket> {
    let fd = sock.as_fd().try_clone_to_owned()?;
    let s = UdpSocket::from(fd);
    s.set_nonblocking(false)?;
    // Wake up now and then to notice a shutdown.
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(s)
}

impl Workers {
    /// Starts `per_socket` workers on each socket and the committer. At
    /// most `max_pending` Accepts wait for a flush; beyond that an Accept is
    /// dropped and counted as overload (its reply stays in the duplicate
    /// cache, so the NAS's retransmission gets it once the disk catches up).
    pub fn start(
        sockets: Vec<(UdpSocket, Port, usize)>,
        handler: Arc<Handler>,
        store: Arc<dyn TokenStore>,
        stats: Arc<CommitStats>,
        max_pending: usize,
    ) -> std::io::Result<Workers> {
        let stop = Arc::new(AtomicBool::new(false));
        let queue = Arc::new(Queue {
            items: Mutex::new((Vec::new(), false)),
            ready: Condvar::new(),
        });
        let mut threads = Vec::new();
        for (sock, port, per_socket) in sockets {
            let sock = Arc::new(sock);
            for n in 0..per_socket.max(1) {
                let (sock, handler, stop, queue) =
                    (sock.clone(), handler.clone(), stop.clone(), queue.clone());
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("radotp-udp-{n}"))
                        .spawn(move || worker(sock, port, handler, stop, queue, max_pending))?,
                );
            }
        }
        let committer = {
            let queue = queue.clone();
            let server_stats = handler.stats().clone();
            std::thread::Builder::new()
                .name("radotp-commit".into())
                .spawn(move || committer(queue, store, stats, server_stats))?
        };
        Ok(Workers {
            threads,
            committer: Some(committer),
            stop,
            queue,
        })
    }

    /// Stops taking datagrams, lets the workers finish the request in hand,
    /// then flushes and sends the last Accepts. Blocks.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        {
            let mut g = self.queue.items.lock().unwrap_or_else(|p| p.into_inner());
            g.1 = true;
        }
        self.queue.ready.notify_all();
        if let Some(c) = self.committer.take() {
            let _ = c.join();
        }
    }
}

fn worker(
    sock: Arc<UdpSocket>,
    port: Port,
    handler: Arc<Handler>,
    stop: Arc<AtomicBool>,
    queue: Arc<Queue>,
    max_pending: usize,
) {
    let mut buf = vec![0u8; 4097];
    while !stop.load(Ordering::Relaxed) {
        let (n, src) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::debug!(error = %e, "recv error");
                continue;
            }
        };
        // A datagram of 4097 bytes is over the limit: passed on whole so
        // the decoder rejects it.
        let Some(reply) = handler.handle(src, &buf[..n], port) else {
            continue;
        };
        if reply.first() == Some(&Code::AccessAccept.to_u8()) {
            let mut g = queue.items.lock().unwrap_or_else(|p| p.into_inner());
            if g.0.len() >= max_pending {
                drop(g);
                handler.stats().count_drop(DropReason::Overload);
                continue;
            }
            g.0.push((sock.clone(), src, reply));
            drop(g);
            queue.ready.notify_one();
        } else if let Err(e) = sock.send_to(&reply, src) {
            tracing::debug!(error = %e, %src, "send failed");
        }
    }
}

fn committer(
    queue: Arc<Queue>,
    store: Arc<dyn TokenStore>,
    stats: Arc<CommitStats>,
    server_stats: Arc<super::stats::Stats>,
) {
    let mut batch = Vec::new();
    loop {
        {
            let mut g = queue.items.lock().unwrap_or_else(|p| p.into_inner());
            while g.0.is_empty() && !g.1 {
                g = queue.ready.wait(g).unwrap_or_else(|p| p.into_inner());
            }
            if g.0.is_empty() {
                return; // stopped and drained
            }
            std::mem::swap(&mut g.0, &mut batch);
        }
        // Every commit of this batch happened before it was queued, hence
        // before this flush starts.
        let started = std::time::Instant::now();
        let synced = store.sync();
        server_stats
            .commit_latency
            .observe(started.elapsed().as_micros() as u64);
        match synced {
            Ok(()) => {
                stats.flushes.fetch_add(1, Ordering::Relaxed);
                stats
                    .accepts
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                stats
                    .max_batch
                    .fetch_max(batch.len() as u64, Ordering::Relaxed);
                for (sock, src, reply) in batch.drain(..) {
                    if let Err(e) = sock.send_to(&reply, src) {
                        tracing::debug!(error = %e, %src, "send failed");
                    }
                }
            }
            Err(e) => {
                // Not durable: no Accept. The NAS retries; the duplicate
                // cache answers and the Accept comes back here.
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, dropped = batch.len(), "store flush failed; Accepts withheld");
                batch.clear();
            }
        }
    }
}
