//! Shared helpers of the integration tests: a real server on 127.0.0.1:0
//! with an in-memory store and a fixed clock, and a small RADIUS client.
#![allow(dead_code)]

pub mod daemon;
pub mod pg;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use radotp::auth::client::{request_attributes, ClientExchange};
use radotp::auth::Method;
use radotp::clock::FixedClock;
use radotp::config::Config;
use radotp::otp::{self, Algorithm, Kind};
use radotp::radius::attribute::types;
use radotp::radius::{packet, Attribute, Code, Packet};
use radotp::secret::Secret;
use radotp::server::stats::Stats;
use radotp::server::Server;
use radotp::store::{MemoryStore, Token, TokenState, TokenStore, User};
use tokio::sync::watch;

pub const SECRET: &[u8] = b"testing123";
pub const SEED: &[u8] = b"12345678901234567890";
/// A fixed time, 10 s into a 30 s step.
pub const T0: u64 = 1_700_000_010;

pub struct TestServer {
    pub addr: SocketAddr,
    pub acct: Option<SocketAddr>,
    /// The RadSec (TLS) listener, with `[radsec]`.
    pub radsec: Option<SocketAddr>,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<FixedClock>,
    pub stats: Arc<Stats>,
    /// The HTTP API listeners: ("api", plain) and ("api-tls", HTTPS).
    pub api: Vec<(&'static str, SocketAddr)>,
    stop: watch::Sender<bool>,
    pub reload: watch::Sender<u64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The base config: listeners on port 0, loopback client requiring Message-Authenticator.
pub fn config_text(extra_client: &str) -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:0"]
accounting_listen = ["127.0.0.1:0"]
[[client]]
name = "lo"
address = "127.0.0.1"
secret = "testing123"
{extra_client}
"#
    )
}

pub fn start(config: &str) -> TestServer {
    start_with(config, None)
}

pub fn start_with(config: &str, path: Option<std::path::PathBuf>) -> TestServer {
    let cfg = Config::from_toml(config, "test.toml").expect("test config");
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(FixedClock::new(T0));
    let (stop, stop_rx) = watch::channel(false);
    let (reload, reload_rx) = watch::channel(0u64);
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = store.clone();
    let c2 = clock.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::bind(cfg, path, s2, c2, false).await.unwrap();
            let acct = server.accounting_addrs().first().copied();
            let radsec = server.radsec_addrs().first().copied();
            tx.send((
                server.auth_addrs()[0],
                acct,
                radsec,
                server.stats(),
                server.api_addrs(),
            ))
            .unwrap();
            server.run(stop_rx, reload_rx).await.unwrap();
        });
    });
    let (addr, acct, radsec, stats, api) =
        rx.recv_timeout(Duration::from_secs(10)).expect("server up");
    TestServer {
        addr,
        acct,
        radsec,
        store,
        clock,
        stats,
        api,
        stop,
        reload,
        thread: Some(thread),
    }
}

impl TestServer {
    /// Adds a user with a TOTP token (SEED, SHA-1, 6 digits, 30 s).
    pub fn add_user(&self, name: &str, pin: Option<&str>) {
        let mut u = User::new(name, T0);
        u.pin = pin.map(Secret::from);
        self.store.insert_user(&u).unwrap();
        self.store
            .insert_token(&Token {
                id: format!("t-{name}"),
                owner: name.into(),
                serial: None,
                kind: Kind::Totp,
                algorithm: Algorithm::Sha1,
                digits: 6,
                period: 30,
                seed: Secret::new(SEED.to_vec()),
                last: None,
                drift: 0,
                state: TokenState::Active,
                description: String::new(),
                created: T0,
                last_used: None,
            })
            .unwrap();
    }

    pub fn now(&self) -> u64 {
        use radotp::clock::Clock;
        self.clock.now()
    }
}

/// The TOTP code of SEED at `unix`.
pub fn code_at(unix: u64) -> String {
    otp::OtpCode::new(otp::totp(Algorithm::Sha1, SEED, unix, 30, 6), 6)
        .as_str()
        .to_string()
}

/// A client request, ready to send.
pub struct Request {
    pub packet: Packet,
    pub exchange: ClientExchange,
}

pub fn request(method: Method, user: &str, password: &str) -> Request {
    request_with_secret(method, user, password, SECRET)
}

pub fn request_with_secret(method: Method, user: &str, password: &str, secret: &[u8]) -> Request {
    let authenticator: [u8; 16] = rand::random();
    let random: [u8; 32] = rand::random();
    let (attrs, exchange) = request_attributes(
        method,
        user.as_bytes(),
        password.as_bytes(),
        secret,
        &authenticator,
        &random,
    );
    let mut packet = Packet::new(Code::AccessRequest, rand::random(), authenticator);
    packet
        .attributes
        .push(Attribute::new(types::USER_NAME, user.as_bytes().to_vec()));
    packet.attributes.extend(attrs);
    Request { packet, exchange }
}

pub fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    s
}

/// Sends raw bytes and waits for one reply (None on timeout).
pub fn send_raw(sock: &UdpSocket, to: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    sock.send_to(bytes, to).unwrap();
    let mut buf = [0u8; 4096];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

/// Encodes (with Message-Authenticator), sends, verifies and decodes the reply.
pub fn send(sock: &UdpSocket, to: SocketAddr, req: &Request) -> Option<Packet> {
    let bytes = packet::encode_request(&req.packet, SECRET, true).unwrap();
    let raw = send_raw(sock, to, &bytes)?;
    assert!(
        packet::verify_response(&raw, &req.packet.authenticator, SECRET),
        "reply authenticators must verify"
    );
    Some(Packet::decode(&raw).unwrap())
}

/// One exchange on a fresh socket.
pub fn ask(ts: &TestServer, method: Method, user: &str, password: &str) -> Code {
    let sock = socket();
    let req = request(method, user, password);
    let reply = send(&sock, ts.addr, &req).expect("an answer");
    if reply.code == Code::AccessAccept {
        req.exchange
            .check_accept(&reply)
            .expect("method check of the Accept");
    }
    reply.code
}

pub const METHODS: [Method; 4] = [Method::Pap, Method::Chap, Method::MsChap, Method::MsChapV2];
