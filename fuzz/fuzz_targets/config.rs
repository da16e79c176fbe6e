//! The config parser and validator, then everything the daemon derives
//! from a parsed config (clients, window, listeners). Errors are fine;
//! panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use radotp::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml(text, "fuzz.toml") {
        Ok(cfg) => {
            // secret_file would read the disk: only resolve inline secrets.
            if cfg.clients.iter().all(|c| c.get_ref().secret_file.is_none()) {
                let _ = cfg.clients();
            }
            let _ = cfg.window();
            let _ = cfg.listen_addrs();
            let _ = cfg.accounting_addrs();
            let _ = cfg.metrics_addr();
            let _ = cfg.check_pin(text);
            let _ = format!("{cfg:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
