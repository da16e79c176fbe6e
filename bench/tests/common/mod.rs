//! What the generator's tests share: a radotp server in this process (an
//! in-memory store, a fixed clock the tests move), and the population put
//! into it the way `provision --import` does: the generator's CSV, parsed
//! by radotp's `token import` and handed to its admin service.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use radotp::admin::{Admin, AdminReply, AdminRequest};
use radotp::clock::FixedClock;
use radotp::config::Config;
use radotp::server::Server;
use radotp::store::MemoryStore;
use radotp::verify::Verifier;
use radotp_bench::population::{write_import_csv, BenchUser};
use tokio::sync::watch;

/// A fixed time, 10 s into a 30 s step.
pub const T0: u64 = 1_700_000_010;

/// The server's config: one loopback client, `extra` appended.
pub fn config_text(extra: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\naccounting_listen = []\n\
         [[client]]\nname = \"lo\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\n{extra}"
    )
}

/// A running server, as a test sees it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<FixedClock>,
    config: String,
}

/// Runs `test` against a server on `config` (see [`config_text`]), then
/// stops the server and waits for it, whether the test passed or panicked.
pub fn with_server(config: &str, test: impl FnOnce(&TestServer)) {
    let cfg = Config::from_toml(config, "bench-test.toml").expect("test config");
    let srv_store = Arc::new(MemoryStore::new());
    let srv_clock = Arc::new(FixedClock::new(T0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (store, clock) = (srv_store.clone(), srv_clock.clone());
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let server = Server::bind(cfg, None, store, clock, false)
                .await
                .expect("bind");
            addr_tx
                .send(server.auth_addrs()[0])
                .expect("report the port");
            let (_reload, reload_rx) = watch::channel(0u64);
            server.run(stop_rx, reload_rx).await.expect("server run");
        });
    });
    let outcome = addr_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|e| format!("server not up within 10 s: {e}"))
        .map(|addr| {
            let srv = TestServer {
                addr,
                store: srv_store,
                clock: srv_clock,
                config: config.to_string(),
            };
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(&srv)))
        });
    let _ = stop_tx.send(true);
    let _ = server.join();
    match outcome {
        Err(why) => panic!("{why}"),
        Ok(Err(panicked)) => std::panic::resume_unwind(panicked),
        Ok(Ok(())) => {}
    }
}

impl TestServer {
    /// Imports `users` as `provision --import` does: the CSV the generator
    /// writes, read by radotp's import parser (every line must be good),
    /// executed by radotp's admin service on the server's store.
    pub fn import(&self, users: &[BenchUser]) {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = dir.path().join("population.csv");
        write_import_csv(&csv, users).expect("write the CSV");
        let text = std::fs::read_to_string(&csv).expect("read the CSV");
        let cfg = Config::from_toml(&self.config, "bench-test.toml").expect("test config");
        let (good, bad) = radotp::cli::token::parse_import(&text, &cfg);
        assert!(bad.is_empty(), "bad CSV lines: {bad:?}");
        assert_eq!(good.len(), users.len());
        let verifier = Arc::new(Verifier::new(
            self.store.clone(),
            self.clock.clone(),
            radotp::verify::Policy::of(&cfg),
        ));
        let admin = Admin::new(verifier, Arc::new(cfg));
        let reply = admin
            .execute(AdminRequest::TokenImport {
                tokens: good.into_iter().map(|(_, t)| t).collect(),
                create_users: true,
            })
            .expect("import");
        match reply {
            AdminReply::Imported {
                tokens,
                users_created,
            } => assert_eq!((tokens, users_created), (users.len(), users.len())),
            other => panic!("unexpected reply to the import: {other:?}"),
        }
    }
}
