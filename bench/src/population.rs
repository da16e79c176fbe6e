//! The benchmark population: its users, the seed list the generator reads,
//! the CSV that `radotp token import` reads, and FreeRADIUS's `users` file.
//!
//! The seed list (`--seed-file`) is a text file, one user a line:
//! `group name pin seed-hex static-password` (`-` for no PIN). Groups:
//! `totp` (TOTP, no PIN), `totp-pin` (TOTP with PIN) and `hotp-pin` (HOTP
//! with PIN). Every token is HMAC-SHA-1, 6 digits, 30-s steps.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use clap::ValueEnum;
use radotp::otp::Kind;
use rand::{Rng, RngCore};
use serde::Serialize;

/// TOTP period of the population.
pub const PERIOD: u64 = 30;
/// Digits of the population's codes.
pub const DIGITS: u32 = 6;

/// A population group of the seed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize)]
pub enum Group {
    /// TOTP users without PIN.
    #[value(name = "totp")]
    #[serde(rename = "totp")]
    Totp,
    /// TOTP users with a PIN.
    #[value(name = "totp-pin")]
    #[serde(rename = "totp-pin")]
    TotpPin,
    /// HOTP users with a PIN.
    #[value(name = "hotp-pin")]
    #[serde(rename = "hotp-pin")]
    HotpPin,
}

impl Group {
    /// Its name in the seed list and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Totp => "totp",
            Group::TotpPin => "totp-pin",
            Group::HotpPin => "hotp-pin",
        }
    }
    /// The group named `s`.
    pub fn parse(s: &str) -> Option<Group> {
        match s {
            "totp" => Some(Group::Totp),
            "totp-pin" => Some(Group::TotpPin),
            "hotp-pin" => Some(Group::HotpPin),
            _ => None,
        }
    }
    /// Its tokens' kind.
    pub fn kind(self) -> Kind {
        match self {
            Group::HotpPin => Kind::Hotp,
            _ => Kind::Totp,
        }
    }
}

/// One benchmark user.
#[derive(Clone)]
pub struct BenchUser {
    /// Its group.
    pub group: Group,
    /// User-Name.
    pub name: String,
    /// PIN, if any.
    pub pin: Option<String>,
    /// 20-byte HMAC-SHA-1 seed.
    pub seed: Vec<u8>,
    /// Static password (FreeRADIUS side).
    pub static_password: String,
}

impl std::fmt::Debug for BenchUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchUser")
            .field("group", &self.group)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Generates `n` users of `group` named `{prefix}{i}`.
pub fn generate(group: Group, n: usize, pin_length: usize) -> Vec<BenchUser> {
    let prefix = match group {
        Group::Totp => "bt",
        Group::TotpPin => "bp",
        Group::HotpPin => "bh",
    };
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|i| {
            let mut seed = vec![0u8; 20];
            rng.fill_bytes(&mut seed);
            let pin = (group != Group::Totp && pin_length > 0).then(|| {
                (0..pin_length)
                    .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
                    .collect()
            });
            let static_password = (0..12)
                .map(|_| char::from(b"abcdefghijkmnpqrstuvwxyz23456789"[rng.gen_range(0..32)]))
                .collect();
            BenchUser {
                group,
                name: format!("{prefix}{i}"),
                pin,
                seed,
                static_password,
            }
        })
        .collect()
}

/// Writes a seed list.
pub fn write_seed_file(path: &Path, users: &[BenchUser]) -> anyhow::Result<()> {
    let mut w = create_private(path)?;
    writeln!(
        w,
        "# radotp-bench seed list: group name pin seed-hex static-password"
    )?;
    for u in users {
        writeln!(
            w,
            "{} {} {} {} {}",
            u.group.as_str(),
            u.name,
            u.pin.as_deref().unwrap_or("-"),
            hex_encode(&u.seed),
            u.static_password
        )?;
    }
    synced(w)
}

/// Flushes `w` and syncs its file: provisioning reports success only once
/// its files are on disk, and a daemon started right after does not wait
/// for their writeback in its own first `fsync` (ext4 may commit them
/// together).
fn synced(w: std::io::BufWriter<std::fs::File>) -> anyhow::Result<()> {
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// Reads a seed list.
pub fn read_seed_file(path: &Path) -> anyhow::Result<Vec<BenchUser>> {
    let f = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("seed list {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let bad = || anyhow::anyhow!("seed list {} line {}: malformed", path.display(), n + 1);
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() != 5 {
            return Err(bad());
        }
        out.push(BenchUser {
            group: Group::parse(f[0]).ok_or_else(bad)?,
            name: f[1].to_string(),
            pin: (f[2] != "-").then(|| f[2].to_string()),
            seed: hex_decode(f[3]).ok_or_else(bad)?,
            static_password: f[4].to_string(),
        });
    }
    Ok(out)
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Creates `path` readable by its owner only: every file of the
/// population holds seeds. A file left by an earlier population is removed
/// first, not reopened: a mode applies only to a file being created.
fn create_private(path: &Path) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
    let cannot = |e: std::io::Error| anyhow::anyhow!("cannot write {}: {e}", path.display());
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(cannot(e)),
        _ => {}
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true).mode(0o600);
    Ok(std::io::BufWriter::new(open.open(path).map_err(cannot)?))
}

/// Writes the population as the CSV `radotp token import` reads:
/// `user,secret,type,algorithm,digits,period,groups,pin` (no groups; the
/// PIN empty for a user without one).
pub fn write_import_csv(path: &Path, users: &[BenchUser]) -> anyhow::Result<()> {
    let mut w = create_private(path)?;
    writeln!(w, "user,secret,type,algorithm,digits,period,groups,pin")?;
    for u in users {
        writeln!(
            w,
            "{},{},{},sha1,{DIGITS},{PERIOD},,{}",
            u.name,
            radotp::otp::encode_base32_secret(&u.seed),
            u.group.kind().as_str(),
            u.pin.as_deref().unwrap_or("")
        )?;
    }
    synced(w)
}

/// Writes a FreeRADIUS `users` file for the population.
pub fn write_freeradius_users(
    path: &Path,
    users: &[BenchUser],
    limit: usize,
) -> anyhow::Result<()> {
    let mut w = create_private(path)?;
    writeln!(w, "# generated by radotp-bench provision")?;
    let mut per_group: HashMap<Group, usize> = HashMap::new();
    for u in users {
        let n = per_group.entry(u.group).or_default();
        *n += 1;
        if limit != 0 && *n > limit {
            continue;
        }
        writeln!(
            w,
            "{}\tCleartext-Password := \"{}\", TOTP-Secret := \"{}\"\n",
            u.name,
            u.static_password,
            radotp::otp::encode_base32_secret(&u.seed)
        )?;
    }
    synced(w)
}
