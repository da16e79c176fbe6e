//! The datagram path: a few worker threads per UDP socket, each working in
//! batches, and one commit thread, with group commit.
//!
//! Each worker blocks in `recvmmsg` on its socket (the kernel hands each
//! datagram to one waiting worker), which also takes whatever else is
//! already queued, up to a batch, in the same system call, and runs
//! [`Handler::handle`] on each datagram inline. The replies that need
//! nothing durable (Rejects, Challenges, accounting) leave at once in one
//! `sendmmsg`. Access-Accepts, whose replay commits must be on disk before
//! the NAS sees them, are handed to the commit thread, and the worker goes
//! back to its socket. The commit thread takes every Accept handed over so
//! far, calls [`TokenStore::sync`] once for all of them and sends them
//! after it returns (one `sendmmsg` per socket); Accepts handed over while
//! it flushes wait for its next flush. The handler's verifier does not
//! flush by itself (see
//! [`Verifier::with_deferred_sync`](crate::verify::Verifier::with_deferred_sync)).
//!
//! So one flush serves every Accept handled while the previous one ran,
//! and the workers keep handling requests while the disk works: the flush
//! rate follows the disk, not the request rate, and a slow flush holds up
//! Accepts, not the Rejects or the handling of what comes next. Until
//! [`MAX_PENDING`] Accepts wait, then the workers wait too. A
//! retransmission answered from the duplicate cache with an Accept takes
//! the same path, so no Accept ever leaves before its commit is durable.

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use rustix::net::addr::SocketAddrArg;
use rustix::net::{SendAncillaryBuffer, SendFlags, SocketAddrAny};

use crate::radius::Code;
use crate::store::TokenStore;

use super::handler::{Handler, Port};

/// Most datagrams one worker takes before it answers them.
const BATCH: usize = 64;

/// Accepts waiting for the commit thread at most; a worker with more to
/// hand over waits until the next flush takes them (back-pressure on a
/// stalled disk, instead of memory without bound).
pub const MAX_PENDING: usize = 16_384;

/// Socket receive buffer asked for (the kernel caps it at `net.core.rmem_max`).
const RECV_BUFFER: usize = 4 << 20;

/// Group-commit counters of the daemon.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Batches whose Accepts waited for one `sync` of the store.
    pub flushes: AtomicU64,
    /// Accepts sent after a `sync`.
    pub accepts: AtomicU64,
    /// Largest number of Accepts one `sync` served.
    pub max_batch: AtomicU64,
    /// `sync` calls that failed (their Accepts were not sent).
    pub failures: AtomicU64,
    /// Datagrams taken, and batches they came in (mean batch = their ratio).
    pub datagrams: AtomicU64,
    /// Batches taken from the sockets.
    pub batches: AtomicU64,
}

impl CommitStats {
    /// The counters as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let f = self.flushes.load(Ordering::Relaxed);
        let a = self.accepts.load(Ordering::Relaxed);
        let d = self.datagrams.load(Ordering::Relaxed);
        let b = self.batches.load(Ordering::Relaxed);
        serde_json::json!({
            "flushes": f,
            "accepts": a,
            "mean_batch": if f == 0 { 0.0 } else { a as f64 / f as f64 },
            "max_batch": self.max_batch.load(Ordering::Relaxed),
            "failures": self.failures.load(Ordering::Relaxed),
            "datagrams": d,
            "mean_datagrams_per_wakeup": if b == 0 { 0.0 } else { d as f64 / b as f64 },
        })
    }
}

/// The running workers.
pub struct Workers {
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    commits: Arc<Commits>,
    committer: Option<std::thread::JoinHandle<()>>,
}

/// Accepts handed from the workers to the commit thread.
type Batch = (Arc<UdpSocket>, Vec<(SocketAddr, Vec<u8>)>);

#[derive(Default)]
struct Pending {
    batches: Vec<Batch>,
    accepts: usize,
    stop: bool,
}

/// The hand-over between the workers and the commit thread.
struct Commits {
    pending: Mutex<Pending>,
    /// Accepts were handed over, or stop.
    work: Condvar,
    /// The commit thread took what was pending.
    room: Condvar,
    handler: Arc<Handler>,
    store: Arc<dyn TokenStore>,
    stats: Arc<CommitStats>,
}

impl Commits {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `accepts` (whose commits all happened before) to the commit
    /// thread; waits while [`MAX_PENDING`] Accepts are already waiting.
    fn hand_over(&self, sock: &Arc<UdpSocket>, accepts: Vec<(SocketAddr, Vec<u8>)>) {
        let mut p = self.lock();
        while p.accepts >= MAX_PENDING && !p.stop {
            p = self.room.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        p.accepts += accepts.len();
        p.batches.push((sock.clone(), accepts));
        drop(p);
        self.work.notify_one();
    }

    /// The commit thread: until stopped and drained, takes every pending
    /// Accept, flushes once, sends them.
    fn run(&self) {
        loop {
            let batches = {
                let mut p = self.lock();
                while p.batches.is_empty() && !p.stop {
                    p = self.work.wait(p).unwrap_or_else(|e| e.into_inner());
                }
                if p.batches.is_empty() {
                    return;
                }
                p.accepts = 0;
                std::mem::take(&mut p.batches)
            };
            self.room.notify_all();
            self.commit_and_send(batches);
        }
    }

    fn commit_and_send(&self, mut batches: Vec<Batch>) {
        // Every commit of these Accepts happened before they were handed
        // over, so before this call.
        let started = std::time::Instant::now();
        let synced = self.store.sync();
        self.handler
            .stats()
            .commit_latency
            .observe(started.elapsed().as_micros() as u64);
        let n: u64 = batches.iter().map(|(_, a)| a.len() as u64).sum();
        match synced {
            Ok(()) => {
                self.stats.flushes.fetch_add(1, Ordering::Relaxed);
                self.stats.accepts.fetch_add(n, Ordering::Relaxed);
                self.stats.max_batch.fetch_max(n, Ordering::Relaxed);
                // One `sendmmsg` per socket: batches of the same socket
                // are merged (they are few: one per worker wake-up).
                batches.sort_by_key(|(sock, _)| Arc::as_ptr(sock) as usize);
                let mut it = batches.into_iter();
                let Some((mut sock, mut out)) = it.next() else {
                    return;
                };
                for (s, mut a) in it {
                    if Arc::ptr_eq(&s, &sock) {
                        out.append(&mut a);
                    } else {
                        send_all(&sock, &mut out);
                        (sock, out) = (s, a);
                    }
                }
                send_all(&sock, &mut out);
            }
            Err(e) => {
                // Not durable: no Accept. The NAS retries; the duplicate
                // cache answers and the Accept comes back here.
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, dropped = n, "store flush failed; Accepts withheld");
            }
        }
    }
}

/// A handle on `sock` for the workers (the server keeps its own, for the
/// address). Its receive buffer is raised so that a burst waits in the
/// kernel instead of being dropped there.
pub fn std_socket(sock: &UdpSocket) -> std::io::Result<UdpSocket> {
    let s = sock.try_clone()?;
    s.set_nonblocking(false)?;
    // Wake up now and then to notice a shutdown.
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    if let Err(e) = rustix::net::sockopt::set_socket_recv_buffer_size(&s, RECV_BUFFER) {
        tracing::debug!(error = %e, "cannot raise the socket receive buffer");
    }
    Ok(s)
}

impl Workers {
    /// Starts `per_socket` workers on each socket. A worker takes at most
    /// `max_batch` datagrams (and at most 64) before it answers them.
    pub fn start(
        sockets: Vec<(UdpSocket, Port, usize)>,
        handler: Arc<Handler>,
        store: Arc<dyn TokenStore>,
        stats: Arc<CommitStats>,
        max_batch: usize,
    ) -> std::io::Result<Workers> {
        let stop = Arc::new(AtomicBool::new(false));
        let batch = max_batch.clamp(1, BATCH);
        let commits = Arc::new(Commits {
            pending: Mutex::new(Pending::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            handler: handler.clone(),
            store,
            stats: stats.clone(),
        });
        let committer = {
            let c = commits.clone();
            std::thread::Builder::new()
                .name("radotp-commit".into())
                .spawn(move || c.run())?
        };
        let mut threads = Vec::new();
        for (sock, port, per_socket) in sockets {
            let sock = Arc::new(sock);
            for n in 0..per_socket.max(1) {
                let w = Worker {
                    sock: sock.clone(),
                    port,
                    handler: handler.clone(),
                    commits: commits.clone(),
                    stats: stats.clone(),
                    stop: stop.clone(),
                    batch,
                };
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("radotp-udp-{n}"))
                        .spawn(move || w.run())?,
                );
            }
        }
        Ok(Workers {
            threads,
            stop,
            commits,
            committer: Some(committer),
        })
    }

    /// Stops taking datagrams; each worker finishes the batch in hand, then
    /// the commit thread flushes and sends every Accept handed over. Blocks.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.commits.lock().stop = true;
        self.commits.work.notify_all();
        self.commits.room.notify_all();
        if let Some(t) = self.committer.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    sock: Arc<UdpSocket>,
    port: Port,
    handler: Arc<Handler>,
    commits: Arc<Commits>,
    stats: Arc<CommitStats>,
    stop: Arc<AtomicBool>,
    batch: usize,
}

impl Worker {
    fn run(self) {
        // One buffer per datagram of a batch, one byte over the RADIUS
        // limit: a longer datagram arrives cut to 4097 bytes, over the
        // limit, so the decoder rejects it.
        let mut bufs: Vec<[u8; 4097]> = vec![[0u8; 4097]; self.batch];
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(self.batch, None);
        let mut got: Vec<(usize, SocketAddr, usize)> = Vec::with_capacity(self.batch);
        let mut now: Vec<(SocketAddr, Vec<u8>)> = Vec::with_capacity(self.batch);
        let mut accepts: Vec<(SocketAddr, Vec<u8>)> = Vec::with_capacity(self.batch);
        let fd = self.sock.as_raw_fd();
        while !self.stop.load(Ordering::Relaxed) {
            // One system call: block (up to the socket's read timeout) for
            // the first datagram, then take whatever else is queued.
            got.clear();
            let taken = {
                let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs
                    .iter_mut()
                    .map(|b| [IoSliceMut::new(&mut b[..])])
                    .collect();
                match recvmmsg(
                    fd,
                    &mut headers,
                    iovs.iter_mut(),
                    MsgFlags::MSG_WAITFORONE,
                    None,
                ) {
                    Ok(msgs) => {
                        let mut n = 0u64;
                        for (i, m) in msgs.enumerate() {
                            n += 1;
                            if let Some(src) = m.address.as_ref().and_then(std_addr) {
                                got.push((i, src, m.bytes));
                            }
                        }
                        n
                    }
                    Err(Errno::EAGAIN | Errno::EINTR) => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "recv error");
                        continue;
                    }
                }
            };
            for &(i, src, n) in &got {
                let buf = &bufs[i];
                self.one(src, &buf[..n.min(buf.len())], &mut now, &mut accepts);
            }
            self.stats.datagrams.fetch_add(taken, Ordering::Relaxed);
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
            send_all(&self.sock, &mut now);
            if !accepts.is_empty() {
                let full = std::mem::replace(&mut accepts, Vec::with_capacity(self.batch));
                self.commits.hand_over(&self.sock, full);
            }
        }
    }

    /// Handles one datagram; its reply goes to `now` or, for an Accept, to
    /// `accepts` (sent after the flush).
    fn one(
        &self,
        src: SocketAddr,
        datagram: &[u8],
        now: &mut Vec<(SocketAddr, Vec<u8>)>,
        accepts: &mut Vec<(SocketAddr, Vec<u8>)>,
    ) {
        let Some(reply) = self.handler.handle(src, datagram, self.port) else {
            return;
        };
        if reply.first() == Some(&Code::AccessAccept.to_u8()) {
            accepts.push((src, reply));
        } else {
            now.push((src, reply));
        }
    }
}

/// The sender of a datagram as a std address (UDP: IPv4 or IPv6).
fn std_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

/// Sends every reply (one `sendmmsg` for many) and empties the list.
fn send_all(sock: &UdpSocket, replies: &mut Vec<(SocketAddr, Vec<u8>)>) {
    match replies.len() {
        0 => {}
        1 => {
            let (dst, bytes) = &replies[0];
            if let Err(e) = sock.send_to(bytes, dst) {
                tracing::debug!(error = %e, %dst, "send failed");
            }
        }
        _ => {
            let addrs: Vec<SocketAddrAny> = replies.iter().map(|(a, _)| a.as_any()).collect();
            let iovs: Vec<[IoSlice<'_>; 1]> =
                replies.iter().map(|(_, b)| [IoSlice::new(b)]).collect();
            let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
                (0..replies.len()).map(|_| Default::default()).collect();
            let mut msgs: Vec<rustix::net::MMsgHdr<'_>> = addrs
                .iter()
                .zip(iovs.iter())
                .zip(controls.iter_mut())
                .map(|((a, iov), c)| rustix::net::MMsgHdr::new_with_addr(a, iov, c))
                .collect();
            let mut from = 0;
            while from < msgs.len() {
                match rustix::net::sendmmsg(sock, &mut msgs[from..], SendFlags::empty()) {
                    Ok(0) => break,
                    Ok(sent) => from += sent,
                    Err(e) => {
                        // One bad destination must not hold up the others.
                        tracing::debug!(error = %e, dst = %replies[from].0, "send failed");
                        from += 1;
                    }
                }
            }
        }
    }
    replies.clear();
}
