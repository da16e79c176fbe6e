//! The datagram path: a few worker threads per UDP socket, each working in
//! batches.
//!
//! Each worker blocks in `recvmmsg` on its socket (the kernel hands each
//! datagram to one waiting worker), which also takes whatever else is
//! already queued, up to a batch, in the same system call, and runs
//! [`Handler::handle`] on each datagram inline. The replies that need
//! nothing durable (Rejects, Challenges, accounting) leave at once in one
//! `sendmmsg`. Access-Accepts, whose use of the code must be committed
//! before the NAS sees them, are handed to the commit thread
//! ([`super::commit`]) with what to send once their commit is decided, and
//! the worker goes back to its socket.

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use rustix::net::addr::SocketAddrArg;
use rustix::net::{SendAncillaryBuffer, SendFlags, SocketAddrAny};

use super::commit::{CommitQueue, Job};
use super::handler::{Handler, Port, Reply};

/// Most datagrams one worker takes before it answers them.
const BATCH: usize = 64;

/// Socket receive buffer asked for (the kernel caps it at `net.core.rmem_max`).
const RECV_BUFFER: usize = 4 << 20;

/// Datagram counters of the workers.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Datagrams taken.
    pub datagrams: AtomicU64,
    /// Batches they came in (mean batch = their ratio).
    pub batches: AtomicU64,
}

/// The running workers.
pub struct Workers {
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
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
        commits: Arc<CommitQueue>,
        stats: Arc<WorkerStats>,
        max_batch: usize,
    ) -> std::io::Result<Workers> {
        let stop = Arc::new(AtomicBool::new(false));
        let batch = max_batch.clamp(1, BATCH);
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
        Ok(Workers { threads, stop })
    }

    /// Stops taking datagrams; each worker finishes the batch in hand and
    /// has handed its Accepts to the commit thread when this returns.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

struct Worker {
    sock: Arc<UdpSocket>,
    port: Port,
    handler: Arc<Handler>,
    commits: Arc<CommitQueue>,
    stats: Arc<WorkerStats>,
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
        let mut accepts: Vec<Job> = Vec::with_capacity(self.batch);
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
                self.commits.submit(accepts.drain(..));
            }
        }
    }

    /// Handles one datagram; its reply goes to `now` or, for an Accept
    /// that must be committed first, to `accepts` (sent by the commit thread).
    fn one(
        &self,
        src: SocketAddr,
        datagram: &[u8],
        now: &mut Vec<(SocketAddr, Vec<u8>)>,
        accepts: &mut Vec<Job>,
    ) {
        match self.handler.handle(src, datagram, self.port) {
            None => {}
            Some(Reply::Now(bytes)) => now.push((src, bytes)),
            Some(Reply::Durable(d)) => {
                let commit = d.commit.clone();
                let handler = self.handler.clone();
                let sock = self.sock.clone();
                accepts.push(Job {
                    commit,
                    done: Box::new(move |decided| {
                        if let Some(bytes) = handler.settle(*d, decided) {
                            if let Err(e) = sock.send_to(&bytes, src) {
                                tracing::debug!(error = %e, dst = %src, "send failed");
                            }
                        }
                    }),
                });
            }
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
