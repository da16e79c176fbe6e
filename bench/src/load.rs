//! The load generator (`radotp-bench` without a subcommand).
//!
//! It drives any RADIUS server with PAP, CHAP, MS-CHAP or
//! MS-CHAP-V2. Every request carries a credential the server has never
//! seen: TOTP users are used at most once per 30-s step (the generator keeps
//! the last step it used per user, in a state file across runs), HOTP
//! tokens have their counter advanced by one per request. A user is never
//! in flight twice, so the server cannot see a newer code before an older
//! one. `--static` sends the static password of the population instead
//! (the FreeRADIUS side of the comparison), `--mode wrong` a wrong code
//! (the server searches its whole window, then rejects) and `--mode mixed`
//! a share of wrong codes.
//!
//! Load: `--concurrency N` requests in flight (closed loop) or `--rate R`
//! requests per second (open loop). Latency runs from the moment a
//! request is sent to its reply; in open loop the report also gives the
//! send lag (scheduled send time to actual send), so that a generator that
//! fell behind its schedule shows (the open loop never waits for replies
//! unless all 256 identifiers of a socket are taken: counted as starved). Work is spread
//! over `--threads` threads, each running its `--sockets` sockets on a
//! single-threaded tokio runtime (epoll: one wake-up serves every reply
//! queued on a socket; replies are drained without blocking until the
//! socket is empty). Requests are keyed by socket and identifier (256 per
//! socket).
//!
//! Every reply is checked: Response Authenticator and Message-Authenticator
//! (a wrong one is an error, not a success), and for an Access-Accept the
//! method's own proof (MS-CHAP2-Success). The report gives requests/s,
//! accepts, rejects, timeouts, errors, `unexpected` (an Accept where a
//! Reject was due or the reverse) and latency percentiles.
//!
//! The users come from the seed list of [`crate::population`].

use std::collections::HashMap;
use std::io::{BufRead, IoSlice, IoSliceMut, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use radotp::auth::client::{request_attributes, ClientExchange};
use radotp::auth::Method;
use radotp::otp::{hotp, Algorithm, Kind, OtpCode};
use radotp::radius::attribute::types;
use radotp::radius::{packet, Code, Packet};
use rand::{Rng, SeedableRng};
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags};
use serde::Serialize;

use crate::population::{read_seed_file, BenchUser, Group, DIGITS, PERIOD};
use crate::UsageError;

/// TOTP: the generator never sends a code more than this many steps from
/// the current one (radotp clamps the drift it remembers to ±10 by default).
const TOTP_AHEAD: i64 = 8;

/// A wrong code must differ from the code of every counter the server may
/// try: radotp's widest HOTP look-ahead (100 counters past the next one)
/// and its widest TOTP window (±10 steps) around any drift the generator
/// leaves behind (±TOTP_AHEAD), one step more for a request verified after
/// a step boundary. Six digits collide about once in 10^6 candidates, so a
/// blind "code + 500000" would be accepted now and then.
const WRONG_HOTP_SPAN: u64 = 100;
const WRONG_TOTP_SPAN: u64 = TOTP_AHEAD as u64 + 10 + 1;

/// Which credentials a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Valid, never-used codes: every request should be accepted.
    Valid,
    /// Wrong codes: every request should be rejected (full window search).
    Wrong,
    /// Valid codes with `--wrong-percent` wrong ones.
    Mixed,
}

/// Generator options.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The server, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:1812")]
    pub server: SocketAddr,
    /// The shared secret.
    #[arg(long, env = "RADOTP_BENCH_SECRET", default_value = "testing123")]
    pub secret: String,
    /// pap, chap, mschap or mschapv2.
    #[arg(long, default_value = "pap")]
    pub method: Method,
    /// The seed list written by `radotp-bench provision`.
    #[arg(long)]
    pub seed_file: Option<PathBuf>,
    /// Which users of the seed list to use.
    #[arg(long, value_enum, default_value = "totp")]
    pub group: Group,
    /// Use only the first N users of the group (0: all).
    #[arg(long, default_value_t = 0)]
    pub users: usize,
    /// Where the last TOTP step / next HOTP counter of each user is kept
    /// across runs (default: SEED_FILE.state). Keep one per server.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Send each user's static password (PIN and code are not used).
    #[arg(long = "static")]
    pub static_password: bool,
    /// TOTP: send the current step's code every time, without keeping
    /// state (for servers without replay protection, such as FreeRADIUS's
    /// `totp` module, which would otherwise need millions of users).
    #[arg(long)]
    pub reuse: bool,
    /// Send the code without the user's PIN (a server that knows no PIN).
    #[arg(long)]
    pub no_pin: bool,
    /// valid, wrong or mixed credentials.
    #[arg(long, value_enum, default_value = "valid")]
    pub mode: Mode,
    /// Share of wrong codes in `--mode mixed`, percent.
    #[arg(long, default_value_t = 10)]
    pub wrong_percent: u32,
    /// Requests in flight (closed loop).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Requests per second (open loop; overrides --concurrency).
    #[arg(long)]
    pub rate: Option<u64>,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of warm-up before measuring (requests sent, not counted).
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Generator threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Sockets per thread.
    #[arg(long, default_value_t = 4)]
    pub sockets: usize,
    /// Milliseconds before a request counts as timed out.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Leave out the Message-Authenticator.
    #[arg(long)]
    pub no_message_authenticator: bool,
    /// Unix time to compute codes at instead of the clock (tests).
    #[arg(long, hide = true)]
    pub at: Option<u64>,
}

/// Where a run keeps its state by default: `SEED_FILE.state`.
pub(crate) fn default_state_path(seed: &Path) -> PathBuf {
    let mut s = seed.as_os_str().to_owned();
    s.push(".state");
    PathBuf::from(s)
}

/// The result of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Method used.
    pub method: String,
    /// Measured seconds.
    pub seconds: f64,
    /// Requests sent (measured period).
    pub sent: u64,
    /// Replies per second (accepts + rejects).
    pub requests_per_sec: f64,
    /// Access-Accepts.
    pub accepts: u64,
    /// Access-Rejects.
    pub rejects: u64,
    /// No reply within the timeout.
    pub timeouts: u64,
    /// Replies that fail their checks (authenticators, MS-CHAP2-Success, decoding).
    pub errors: u64,
    /// Accept where a Reject was due, or the reverse.
    pub unexpected: u64,
    /// Open loop: requests not sent because no identifier was free, or
    /// closed loop: slots left idle because no fresh credential was left.
    pub starved: u64,
    /// Latency percentiles, microseconds.
    pub latency_us: Latency,
    /// Open loop: how late requests left against their schedule
    /// (percentiles, microseconds; zero in closed loop).
    pub send_lag_us: Latency,
    /// Replies received during the whole call, warm-up included (for CPU
    /// per request measured around the call).
    pub replies_total: u64,
    /// Seconds of warm-up before the measured period.
    pub warmup_seconds: f64,
}

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Report {
    /// The human form.
    pub fn text(&self) -> String {
        let l = &self.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        let mut out = format!(
            "method {}: {:.0} requests/s over {:.1} s\n\
             accepts {}  rejects {}  timeouts {}  errors {}  unexpected {}  starved {}\n\
             latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n",
            self.method,
            self.requests_per_sec,
            self.seconds,
            self.accepts,
            self.rejects,
            self.timeouts,
            self.errors,
            self.unexpected,
            self.starved,
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max)
        );
        if self.send_lag_us.max > 0 {
            let g = &self.send_lag_us;
            out.push_str(&format!(
                "send lag ms (open loop, scheduled to sent): p50 {:.3}  p99 {:.3}  max {:.3}\n",
                ms(g.p50),
                ms(g.p99),
                ms(g.max)
            ));
        }
        out
    }
}

/// Per-user replay state: TOTP last step used and the drift the server
/// learnt from it, HOTP next counter; plus in-flight and lost flags.
struct Slot {
    user: usize,
    next: u64,
    /// TOTP: the step offset of the last accepted code (the server
    /// remembers it and centres its window there), as a range: a request
    /// sent in the last second of a step may be verified in the next one,
    /// and then the server learns one less.
    drift: i64,
    drift_lo: i64,
    busy: bool,
    /// A request of this user timed out or got an unexpected answer: what
    /// the server remembers of it is unknown, so it is not used again.
    lost: bool,
    /// The last wrong code picked and the counter it was picked for: the
    /// user's state does not change on a Reject, so it serves again.
    wrong: Option<(u64, u32)>,
}

/// Saved per user: (next, drift, drift_lo, lost). A lost TOTP user stays lost: the
/// drift the server learnt from its last request is unknown, so no code
/// can be picked that is sure to fall in the server's window. (HOTP does
/// not care: any counter above the one the server may have taken is fresh.)
type SavedState = HashMap<String, (u64, i64, i64, bool)>;

fn load_state(path: &Path) -> SavedState {
    let mut m = HashMap::new();
    if let Ok(f) = std::fs::File::open(path) {
        for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
            let mut it = line.split_ascii_whitespace();
            if let (Some(n), Some(v)) = (it.next(), it.next().and_then(|v| v.parse().ok())) {
                let (d, lost) = match it.next() {
                    Some("lost") => (0, true),
                    d => (d.and_then(|d| d.parse().ok()).unwrap_or(0), false),
                };
                let lo = it.next().and_then(|d| d.parse().ok()).unwrap_or(d);
                m.insert(n.to_string(), (v, d, lo, lost));
            }
        }
    }
    m
}

fn save_state(path: &Path, users: &[BenchUser], slots: &[Vec<Slot>], old: &SavedState) {
    let mut m = old.clone();
    for s in slots.iter().flatten() {
        if s.lost || s.next > 0 {
            m.insert(
                users[s.user].name.clone(),
                (s.next, s.drift, s.drift_lo, s.lost),
            );
        }
    }
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        for (k, (v, d, lo, lost)) in &m {
            if *lost {
                writeln!(w, "{k} {v} lost")?;
            } else {
                writeln!(w, "{k} {v} {d} {lo}")?;
            }
        }
        w.flush()?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        eprintln!("radotp-bench: cannot save {}: {e}", path.display());
    }
}

/// What every worker shares.
struct Shared {
    args: RunArgs,
    users: Arc<Vec<BenchUser>>,
    kind: Kind,
    stop: AtomicBool,
    measuring: AtomicBool,
}

/// What one worker thread found.
#[derive(Default)]
struct Tally {
    sent: u64,
    accepts: u64,
    rejects: u64,
    timeouts: u64,
    errors: u64,
    unexpected: u64,
    starved: u64,
    latencies: Vec<u32>,
    lags: Vec<u32>,
    replies_total: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.sent += o.sent;
        self.accepts += o.accepts;
        self.rejects += o.rejects;
        self.timeouts += o.timeouts;
        self.errors += o.errors;
        self.unexpected += o.unexpected;
        self.starved += o.starved;
        self.latencies.extend(o.latencies);
        self.lags.extend(o.lags);
        self.replies_total += o.replies_total;
    }
}

/// Runs the generator with `a`; reads the seed list from `a.seed_file`.
pub fn run_load(a: &RunArgs) -> anyhow::Result<Report> {
    let path = a.seed_file.clone().ok_or_else(|| {
        UsageError("--seed-file is required (see `radotp-bench provision`)".into())
    })?;
    let all = read_seed_file(&path)?;
    let state_path = a
        .state_file
        .clone()
        .unwrap_or_else(|| default_state_path(&path));
    let (report, slots, users, old) = run_with(a, all, Some(&state_path))?;
    save_state(&state_path, &users, &slots, &old);
    Ok(report)
}

type RunOutput = (Report, Vec<Vec<Slot>>, Arc<Vec<BenchUser>>, SavedState);

/// Runs the generator over `population` (tests call this directly).
pub fn run_population(a: &RunArgs, population: Vec<BenchUser>) -> anyhow::Result<Report> {
    Ok(run_with(a, population, None)?.0)
}

fn run_with(a: &RunArgs, all: Vec<BenchUser>, state: Option<&Path>) -> anyhow::Result<RunOutput> {
    let mut users: Vec<BenchUser> = all.into_iter().filter(|u| u.group == a.group).collect();
    if a.users > 0 {
        users.truncate(a.users);
    }
    if users.is_empty() {
        return Err(UsageError(format!(
            "no users of group {} in the seed list",
            a.group.as_str()
        ))
        .into());
    }
    if a.threads == 0 || a.sockets == 0 || a.duration <= 0.0 {
        return Err(
            UsageError("--threads, --sockets and --duration must be positive".into()).into(),
        );
    }
    let old = state.map(load_state).unwrap_or_default();
    let threads = a.threads.min(users.len());
    // Users are dealt to threads round-robin; each thread owns its share.
    let mut shares: Vec<Vec<Slot>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, u) in users.iter().enumerate() {
        let (next, drift, drift_lo, lost) = old.get(&u.name).copied().unwrap_or((0, 0, 0, false));
        shares[i % threads].push(Slot {
            user: i,
            next,
            drift,
            drift_lo,
            busy: false,
            // HOTP: the counter was advanced past the lost request already.
            lost: lost && a.group.kind() == Kind::Totp,
            wrong: None,
        });
    }
    let users = Arc::new(users);
    let shared = Arc::new(Shared {
        args: a.clone(),
        kind: a.group.kind(),
        users: users.clone(),
        stop: AtomicBool::new(false),
        measuring: AtomicBool::new(a.warmup <= 0.0),
    });
    let handles: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(t, share)| {
            let shared = shared.clone();
            std::thread::spawn(move || worker(shared, t, threads, share))
        })
        .collect();
    if a.warmup > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(a.warmup));
        shared.measuring.store(true, Ordering::Relaxed);
    }
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(a.duration));
    shared.stop.store(true, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let mut total = Tally::default();
    let mut slots = Vec::new();
    for h in handles {
        let (tally, share) = h
            .join()
            .map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
        total.add(tally);
        slots.push(share);
    }
    let report = Report {
        method: a.method.as_str().to_string(),
        seconds,
        sent: total.sent,
        requests_per_sec: (total.accepts + total.rejects) as f64 / seconds,
        accepts: total.accepts,
        rejects: total.rejects,
        timeouts: total.timeouts,
        errors: total.errors,
        unexpected: total.unexpected,
        starved: total.starved,
        latency_us: Latency::of(std::mem::take(&mut total.latencies)),
        send_lag_us: Latency::of(std::mem::take(&mut total.lags)),
        replies_total: total.replies_total,
        warmup_seconds: a.warmup.max(0.0),
    };
    Ok((report, slots, users, old))
}

impl Latency {
    /// Percentiles of microsecond samples.
    pub(crate) fn of(mut v: Vec<u32>) -> Latency {
        v.sort_unstable();
        let pct = |p: f64| -> u64 {
            if v.is_empty() {
                return 0;
            }
            let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
            u64::from(v[i])
        };
        Latency {
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
            p999: pct(0.999),
            max: v.last().copied().map_or(0, u64::from),
        }
    }
}

type WorkerOut = anyhow::Result<(Tally, Vec<Slot>)>;

fn worker(shared: Arc<Shared>, t: usize, threads: usize, share: Vec<Slot>) -> WorkerOut {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let a = &shared.args;
    let sockets = a.sockets;
    let per_thread_conc =
        (a.concurrency / threads + usize::from(t < a.concurrency % threads)).max(1);
    let per_thread_rate = a.rate.map(|r| r as f64 / threads as f64);
    let creds = Rc::new(RefCell::new(Credentials {
        ready: (0..share.len()).collect(),
        slots: share,
        parked: Default::default(),
        rng: rand::rngs::StdRng::from_entropy(),
    }));
    let tallies = rt.block_on(async {
        let local = tokio::task::LocalSet::new();
        let mut tasks = Vec::new();
        for s in 0..sockets {
            let conc = per_thread_conc / sockets + usize::from(s < per_thread_conc % sockets);
            if conc == 0 && per_thread_rate.is_none() {
                continue;
            }
            let rate = per_thread_rate.map(|r| r / sockets as f64);
            let shared = shared.clone();
            let creds = creds.clone();
            tasks.push(local.spawn_local(socket_task(shared, creds, conc.min(256), rate)));
        }
        local
            .run_until(async move {
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await);
                }
                out
            })
            .await
    });
    let mut total = Tally::default();
    for r in tallies {
        total.add(r.map_err(|e| anyhow::anyhow!("generator task failed: {e}"))??);
    }
    let slots = Rc::try_unwrap(creds)
        .map_err(|_| anyhow::anyhow!("credentials still shared"))?
        .into_inner()
        .slots;
    Ok((total, slots))
}

use std::cell::RefCell;
use std::rc::Rc;

/// The users of one generator thread: those ready for a request, in turn,
/// and TOTP users whose next fresh code lies in a later step, by step.
/// Taking a credential is O(1) however many users are used up.
struct Credentials {
    slots: Vec<Slot>,
    ready: std::collections::VecDeque<usize>,
    parked: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>>,
    rng: rand::rngs::StdRng,
}

/// A credential taken for one request.
struct Taken {
    slot: usize,
    password: Vec<u8>,
    expect_accept: bool,
}

impl Credentials {
    /// The next user not in flight with a fresh code at `now`.
    fn take(&mut self, shared: &Shared, now: u64) -> Option<Taken> {
        let a = &shared.args;
        let step = now / PERIOD;
        while let Some(&std::cmp::Reverse((wake, i))) = self.parked.peek() {
            if wake > step {
                break;
            }
            self.parked.pop();
            self.ready.push_back(i);
        }
        // In the last second of a step a request may be verified after
        // the server's clock moved on: its window is then one step higher,
        // and the drift it learns one less.
        let late_in_step = now % PERIOD == PERIOD - 1;
        while let Some(i) = self.ready.pop_front() {
            let s = &mut self.slots[i];
            if s.busy || s.lost {
                continue;
            }
            let user = &shared.users[s.user];
            if a.static_password {
                s.busy = true;
                return Some(Taken {
                    slot: i,
                    password: user.static_password.as_bytes().to_vec(),
                    expect_accept: true,
                });
            }
            let wrong = match a.mode {
                Mode::Valid => false,
                Mode::Wrong => true,
                Mode::Mixed => self.rng.gen_range(0..100) < a.wrong_percent,
            };
            let mut ambiguous = false;
            // The code of `counter`, when the ambiguity check computed it.
            let mut known = None;
            let counter = match shared.kind {
                Kind::Totp if a.reuse => step,
                Kind::Totp => {
                    // radotp searches ±1 step around its centre, `V +
                    // drift`, where V is its step when it verifies and
                    // drift the offset of the last code it accepted from
                    // the step it was verified in; it takes nothing at or
                    // below that code (`next`). V is our step `step`, or
                    // `step + 1` when we send in a step's last second; the
                    // last Accept's drift is `drift`, or `drift_lo` (one
                    // less) if it was sent late and verified after the
                    // boundary, and then this request is verified after
                    // it too. So the centre is at least max(next,
                    // step + drift_lo) and at most step + late + drift:
                    // the lowest step above `next` within one of both is
                    // fresh and inside the window whatever happened. The
                    // drift stays within ±TOTP_AHEAD, inside radotp's clamp.
                    let step = step as i64;
                    let late = i64::from(late_in_step);
                    let next = s.next as i64;
                    let centre_lo = next.max(step + s.drift_lo);
                    let centre_hi = step + late + s.drift;
                    let c = (next + 1).max(centre_hi - 1);
                    if c > centre_lo + 1 || (c - step).abs() > TOTP_AHEAD || c < 0 {
                        // Used up for now: look again in a later step.
                        let wake = (next - s.drift_lo).max(step + 1);
                        self.parked.push(std::cmp::Reverse((wake as u64, i)));
                        continue;
                    }
                    // Six digits collide: if the step the server may try
                    // before `c` (its centre, one above) has the same code,
                    // it may record that step instead; the code is accepted
                    // either way, but the user's state is unknown after it.
                    if c < centre_hi && !wrong {
                        let code = hotp(Algorithm::Sha1, &user.seed, c as u64, DIGITS);
                        ambiguous = code == hotp(Algorithm::Sha1, &user.seed, c as u64 + 1, DIGITS);
                        known = Some(code);
                    }
                    // A wrong code consumes nothing on the server.
                    if !wrong {
                        s.next = c as u64;
                        s.drift = c - step;
                        s.drift_lo = c - step - late;
                    }
                    c as u64
                }
                Kind::Hotp => {
                    let c = s.next;
                    // A wrong code consumes nothing on the server: moving
                    // on would leave the look-ahead behind after a run of
                    // wrong codes.
                    if !wrong {
                        s.next += 1;
                    }
                    c
                }
            };
            s.busy = true;
            // Answered as expected either way, then never used again.
            s.lost |= ambiguous;
            let code = match s.wrong {
                Some((c, w)) if wrong && c == counter => w,
                _ if wrong => {
                    let w = wrong_code(&user.seed, shared.kind, counter);
                    s.wrong = Some((counter, w));
                    w
                }
                _ => known.unwrap_or_else(|| hotp(Algorithm::Sha1, &user.seed, counter, DIGITS)),
            };
            let mut password = Vec::with_capacity(16);
            if let (Some(pin), false) = (&user.pin, a.no_pin) {
                password.extend_from_slice(pin.as_bytes());
            }
            password.extend_from_slice(OtpCode::new(code, DIGITS).as_bytes());
            return Some(Taken {
                slot: i,
                password,
                expect_accept: !wrong,
            });
        }
        None
    }

    /// The request of slot `i` is over: the user is ready again, unless
    /// lost.
    fn release(&mut self, i: usize) {
        let s = &mut self.slots[i];
        s.busy = false;
        if !s.lost {
            self.ready.push_back(i);
        }
    }
}

/// A code no counter the server may try for `counter` yields (see
/// `WRONG_HOTP_SPAN`): the right one moved by half the code space, then on
/// past any collision.
fn wrong_code(seed: &[u8], kind: Kind, counter: u64) -> u32 {
    let (lo, hi) = match kind {
        Kind::Hotp => (counter, counter + WRONG_HOTP_SPAN),
        Kind::Totp => (
            counter.saturating_sub(WRONG_TOTP_SPAN),
            counter + WRONG_TOTP_SPAN,
        ),
    };
    let taken: Vec<u32> = (lo..=hi)
        .map(|c| hotp(Algorithm::Sha1, seed, c, DIGITS))
        .collect();
    let modulus = 10u32.pow(DIGITS);
    let mut w = (hotp(Algorithm::Sha1, seed, counter, DIGITS) + modulus / 2) % modulus;
    while taken.contains(&w) {
        w = (w + 1) % modulus;
    }
    w
}

struct Pending {
    authenticator: [u8; 16],
    exchange: ClientExchange,
    sent: Instant,
    slot: usize,
    expect_accept: bool,
    counted: bool,
}

fn unix_now(a: &RunArgs, start: Instant) -> u64 {
    match a.at {
        Some(t) => t + start.elapsed().as_secs(),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

/// Requests sent with one system call, at most.
const SEND_BATCH: usize = 32;
/// Replies taken with one system call, at most.
const RECV_BATCH: usize = 64;

/// A request built and waiting for its burst's `sendmmsg`.
struct Outgoing {
    id: usize,
    bytes: Vec<u8>,
    scheduled: Instant,
}

/// Sends `out` on the connected socket, as few `sendmmsg` calls as the
/// kernel takes, waiting while the socket's buffer is full. One flag per
/// request: false when the kernel refused it.
async fn send_batch(sock: &tokio::net::UdpSocket, out: &[Outgoing]) -> Vec<bool> {
    let mut ok = vec![true; out.len()];
    let mut from = 0;
    while from < out.len() {
        let r = sock.try_io(tokio::io::Interest::WRITABLE, || {
            let iovs: Vec<[IoSlice<'_>; 1]> = out[from..]
                .iter()
                .map(|o| [IoSlice::new(&o.bytes)])
                .collect();
            let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
                (0..iovs.len()).map(|_| Default::default()).collect();
            let mut msgs: Vec<MMsgHdr<'_>> = iovs
                .iter()
                .zip(controls.iter_mut())
                .map(|(iov, c)| MMsgHdr::new(iov, c))
                .collect();
            rustix::net::sendmmsg(sock, &mut msgs, SendFlags::empty()).map_err(std::io::Error::from)
        });
        match r {
            Ok(0) => {
                ok[from] = false;
                from += 1;
            }
            Ok(n) => from += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if sock.writable().await.is_err() {
                    ok[from..].iter_mut().for_each(|o| *o = false);
                    break;
                }
            }
            Err(e) => {
                // The first of the rest was refused; go on with the others.
                tracing::debug!(error = %e, "send failed");
                ok[from] = false;
                from += 1;
            }
        }
    }
    ok
}

/// One non-blocking `recvmmsg` into `bufs`: the datagrams' lengths into
/// `lens` (WouldBlock when none is queued).
fn recv_batch(
    sock: &tokio::net::UdpSocket,
    bufs: &mut [[u8; 4096]],
    headers: &mut MultiHeaders<SockaddrStorage>,
    lens: &mut Vec<usize>,
) -> std::io::Result<()> {
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs
        .iter_mut()
        .map(|b| [IoSliceMut::new(&mut b[..])])
        .collect();
    let msgs = recvmmsg(
        sock.as_raw_fd(),
        headers,
        iovs.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    )
    .map_err(std::io::Error::from)?;
    lens.extend(msgs.map(|m| m.bytes));
    Ok(())
}

async fn socket_task(
    shared: Arc<Shared>,
    creds: Rc<RefCell<Credentials>>,
    conc: usize,
    rate: Option<f64>,
) -> anyhow::Result<Tally> {
    let a = &shared.args;
    let bind: SocketAddr = if a.server.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let sock = tokio::net::UdpSocket::bind(bind).await?;
    // Replies arrive in bursts: room for them in the kernel, or they are
    // dropped there and show as timeouts (capped at net.core.rmem_max).
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&sock, 4 << 20);
    sock.connect(a.server).await?;
    let secret = a.secret.as_bytes();
    let timeout = Duration::from_millis(a.timeout_ms.max(1));
    let mut pending: Vec<Option<Pending>> = (0..256).map(|_| None).collect();
    // Identifiers whose request timed out stay unused for a while, so that
    // a late reply cannot be taken for the answer to a new request.
    let mut quarantine: Vec<Option<Instant>> = vec![None; 256];
    let mut next_id: u8 = rand::random();
    let mut in_flight = 0usize;
    let mut tally = Tally::default();
    let mut bufs: Vec<[u8; 4096]> = vec![[0u8; 4096]; RECV_BATCH];
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(RECV_BATCH, None);
    let mut out: Vec<Outgoing> = Vec::with_capacity(SEND_BATCH);
    let mut rng = rand::rngs::StdRng::from_entropy();
    let start = Instant::now();
    let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r.max(0.001)));
    let mut next_send = Instant::now();
    let mut last_sweep = Instant::now();
    loop {
        let now = Instant::now();
        let stopping = shared.stop.load(Ordering::Relaxed);
        if stopping && (in_flight == 0 || now.duration_since(start) > Duration::from_secs(3600)) {
            break;
        }
        // Send what the loop allows.
        if !stopping {
            // Closed loop: at most 16 new requests between two reads, so the
            // start is a ramp and not a burst the server's socket buffer drops.
            let mut burst = 0;
            loop {
                let (due, scheduled) = match interval {
                    None => {
                        burst += 1;
                        (in_flight + out.len() < conc && burst <= 16, now)
                    }
                    Some(iv) => {
                        if next_send > now {
                            (false, now)
                        } else {
                            let s = next_send;
                            next_send += iv;
                            (true, s)
                        }
                    }
                };
                if !due {
                    break;
                }
                // A free identifier.
                let mut id = None;
                for _ in 0..256 {
                    let i = next_id as usize;
                    next_id = next_id.wrapping_add(1);
                    let free = pending[i].is_none()
                        && quarantine[i].is_none_or(|t| now.duration_since(t) > timeout * 2);
                    if free {
                        id = Some(i);
                        break;
                    }
                }
                let measuring = shared.measuring.load(Ordering::Relaxed);
                let Some(id) = id else {
                    if measuring {
                        tally.starved += 1;
                    }
                    if interval.is_none() {
                        break;
                    }
                    continue;
                };
                let taken = creds.borrow_mut().take(&shared, unix_now(a, start));
                let Some(taken) = taken else {
                    if measuring {
                        tally.starved += 1;
                    }
                    break;
                };
                let user = &shared.users[creds.borrow().slots[taken.slot].user];
                let authenticator: [u8; 16] = rng.gen();
                let random: [u8; 32] = rng.gen();
                let (attrs, exchange) = request_attributes(
                    a.method,
                    user.name.as_bytes(),
                    &taken.password,
                    secret,
                    &authenticator,
                    &random,
                );
                let mut p = Packet::new(Code::AccessRequest, id as u8, authenticator);
                p.push(types::USER_NAME, user.name.as_bytes().to_vec());
                p.attributes.extend(attrs);
                let bytes = packet::encode_request(&p, secret, !a.no_message_authenticator)?;
                // Taken until it is sent or given back.
                pending[id] = Some(Pending {
                    authenticator,
                    exchange,
                    sent: now,
                    slot: taken.slot,
                    expect_accept: taken.expect_accept,
                    counted: measuring,
                });
                quarantine[id] = None;
                out.push(Outgoing {
                    id,
                    bytes,
                    scheduled,
                });
                if out.len() >= SEND_BATCH {
                    break;
                }
            }
            // The burst in one system call where it fits (sendmmsg).
            if !out.is_empty() {
                let sent = send_batch(&sock, &out).await;
                let sent_at = Instant::now();
                let measuring = shared.measuring.load(Ordering::Relaxed);
                for (o, ok) in out.drain(..).zip(sent) {
                    let Some(p) = pending[o.id].as_mut() else {
                        continue;
                    };
                    if !ok {
                        creds.borrow_mut().release(p.slot);
                        if p.counted {
                            tally.errors += 1;
                        }
                        pending[o.id] = None;
                        continue;
                    }
                    p.sent = sent_at;
                    in_flight += 1;
                    if measuring {
                        tally.sent += 1;
                        if interval.is_some() {
                            let lag = sent_at.saturating_duration_since(o.scheduled);
                            tally
                                .lags
                                .push(u32::try_from(lag.as_micros()).unwrap_or(u32::MAX));
                        }
                    }
                }
            }
        }
        // Wait for a reply, the next scheduled send, or a timeout sweep.
        let wake = match interval {
            Some(_) if !stopping => next_send.min(now + Duration::from_millis(50)),
            _ => now + Duration::from_millis(50),
        };
        let ready = tokio::select! {
            r = sock.readable() => r.is_ok(),
            _ = tokio::time::sleep_until(wake.into()) => false,
        };
        // Every queued reply, up to RECV_BATCH a system call (recvmmsg).
        let mut lens: Vec<usize> = Vec::with_capacity(RECV_BATCH);
        let mut more = ready;
        while more {
            lens.clear();
            match sock.try_io(tokio::io::Interest::READABLE, || {
                recv_batch(&sock, &mut bufs, &mut headers, &mut lens)
            }) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP port unreachable and the like.
                    tracing::debug!(error = %e, "recv failed");
                    break;
                }
            }
            // A short batch emptied the queue.
            more = lens.len() == RECV_BATCH;
            for (k, &n) in lens.iter().enumerate() {
                let raw = &bufs[k][..n];
                if n < 20 {
                    tally.errors += 1;
                    continue;
                }
                let id = raw[1] as usize;
                let Some(p) = pending[id].take() else {
                    continue; // late reply after a timeout
                };
                in_flight -= 1;
                let lat = p.sent.elapsed();
                let answered_as_expected = raw[0]
                    == if p.expect_accept {
                        Code::AccessAccept.to_u8()
                    } else {
                        Code::AccessReject.to_u8()
                    };
                {
                    let mut c = creds.borrow_mut();
                    if !answered_as_expected {
                        c.slots[p.slot].lost = true;
                    }
                    c.release(p.slot);
                }
                let ok = packet::verify_response(raw, &p.authenticator, secret);
                let reply = Packet::decode(raw);
                tally.replies_total += 1;
                if !p.counted {
                    continue;
                }
                let reply = match (ok, reply) {
                    (true, Ok(r)) => r,
                    _ => {
                        tally.errors += 1;
                        continue;
                    }
                };
                match reply.code {
                    Code::AccessAccept => {
                        if p.exchange.check_accept(&reply).is_err() {
                            tally.errors += 1;
                            continue;
                        }
                        tally.accepts += 1;
                        if !p.expect_accept {
                            tally.unexpected += 1;
                        }
                    }
                    Code::AccessReject => {
                        tally.rejects += 1;
                        if p.expect_accept {
                            tally.unexpected += 1;
                        }
                    }
                    _ => {
                        tally.errors += 1;
                        continue;
                    }
                }
                tally
                    .latencies
                    .push(u32::try_from(lat.as_micros()).unwrap_or(u32::MAX));
            }
        }
        // Timeouts.
        let now = Instant::now();
        if now.duration_since(last_sweep) >= Duration::from_millis(20) {
            last_sweep = now;
            for (i, slot) in pending.iter_mut().enumerate() {
                if slot
                    .as_ref()
                    .is_some_and(|p| now.duration_since(p.sent) > timeout)
                {
                    if let Some(p) = slot.take() {
                        in_flight -= 1;
                        let mut c = creds.borrow_mut();
                        c.slots[p.slot].lost = true;
                        c.release(p.slot);
                        drop(c);
                        quarantine[i] = Some(now);
                        if p.counted {
                            tally.timeouts += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Seed 00 01 .. 13, counter 13365: code 655601, and counter 13430
    // (65 later, inside a look-ahead of 100) yields 155601, the old blind
    // "code + 500000". The wrong code must miss it and every other counter
    // the server may try.
    #[test]
    fn wrong_code_misses_every_counter_the_server_may_try() {
        let seed: Vec<u8> = (0..20).collect();
        assert_eq!(hotp(Algorithm::Sha1, &seed, 13365, DIGITS), 655_601);
        assert_eq!(hotp(Algorithm::Sha1, &seed, 13430, DIGITS), 155_601);
        for (kind, counter) in [(Kind::Hotp, 13365), (Kind::Totp, 13400), (Kind::Totp, 3)] {
            let w = wrong_code(&seed, kind, counter);
            let (lo, hi) = match kind {
                Kind::Hotp => (counter, counter + WRONG_HOTP_SPAN),
                Kind::Totp => (
                    counter.saturating_sub(WRONG_TOTP_SPAN),
                    counter + WRONG_TOTP_SPAN,
                ),
            };
            assert!(w < 1_000_000);
            for c in lo..=hi {
                assert_ne!(
                    hotp(Algorithm::Sha1, &seed, c, DIGITS),
                    w,
                    "{kind:?} {counter} {c}"
                );
            }
        }
        assert_ne!(wrong_code(&seed, Kind::Hotp, 13365), 155_601);
    }
}
