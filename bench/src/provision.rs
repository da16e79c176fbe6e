//! `radotp-bench provision`: creates the benchmark population — the seed
//! list the generator reads, the CSV `radotp token import` reads, and
//! optionally FreeRADIUS's `users` file — and imports it into radotp with
//! `--import`.
//!
//! The import goes through radotp's admin interface, never its store: it
//! runs the `radotp` binary (`radotp --config C --json token import
//! --all-or-nothing CSV`), which hands the tokens to the running daemon
//! over its control socket, or with the daemon stopped opens the store
//! itself, as for any administrator. All or nothing: the CSV is generated,
//! so a bad line is a bug to stop at, and one transaction was four times
//! faster than radotp's batches of 5,000 for 600,000 users (40 s against
//! 9 s here).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use crate::load::default_state_path;
use crate::population::{
    generate, read_seed_file, write_freeradius_users, write_import_csv, write_seed_file, Group,
};
use crate::UsageError;

/// `provision` options.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The seed list to write (or read, if it exists and no counts are given).
    #[arg(long)]
    pub seed_file: PathBuf,
    /// TOTP users without PIN (group `totp`).
    #[arg(long, default_value_t = 0)]
    pub totp: usize,
    /// TOTP users with PIN (group `totp-pin`).
    #[arg(long, default_value_t = 0)]
    pub totp_pin: usize,
    /// HOTP users with PIN (group `hotp-pin`).
    #[arg(long, default_value_t = 0)]
    pub hotp_pin: usize,
    /// PIN length (digits).
    #[arg(long, default_value_t = 4)]
    pub pin_length: usize,
    /// The CSV for `radotp token import` (default: SEED_FILE.csv; mode 0600,
    /// it holds the seeds and PINs).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Import the CSV into radotp (the store of --config) by running
    /// `radotp token import`.
    #[arg(long)]
    pub import: bool,
    /// The radotp binary for --import (default: the `radotp` next to this
    /// program, else the one on PATH).
    #[arg(long, value_name = "PATH")]
    pub radotp: Option<PathBuf>,
    /// Write a FreeRADIUS `users` file (Cleartext-Password = the static
    /// password, TOTP-Secret = the base32 seed).
    #[arg(long)]
    pub freeradius_users: Option<PathBuf>,
    /// Put only the first N users of each group in the FreeRADIUS file (0: all).
    #[arg(long, default_value_t = 0)]
    pub freeradius_limit: usize,
}

/// What `provision` did.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisionReport {
    /// Users in the seed list.
    pub users: usize,
    /// The CSV written.
    pub csv: PathBuf,
    /// What `radotp token import` reported, with --import.
    pub import: Option<ImportReport>,
    /// Wall time of the whole provisioning, seconds.
    pub seconds: f64,
}

/// The summary `radotp --json token import` prints.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ImportReport {
    /// Tokens imported.
    pub imported: u64,
    /// Users created.
    pub users_created: u64,
    /// Seconds radotp took (reading, sealing, storing).
    pub seconds: f64,
    /// Tokens a second.
    pub rate_per_second: f64,
}

/// The `radotp` binary: `explicit`, else the one beside `exe`, else the one
/// on `path` (a `PATH`-style list).
pub fn find_radotp(
    explicit: Option<&Path>,
    exe: Option<&Path>,
    path: Option<OsString>,
) -> Result<PathBuf, UsageError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(UsageError(format!(
                "--radotp {}: no such file",
                p.display()
            )))
        };
    }
    let beside = exe.map(|e| e.with_file_name("radotp"));
    if let Some(b) = beside.as_ref().filter(|b| b.is_file()) {
        return Ok(b.clone());
    }
    if let Some(found) = path
        .as_deref()
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("radotp"))
        .find(|c| c.is_file())
    {
        return Ok(found);
    }
    Err(UsageError(format!(
        "cannot find the radotp binary ({}nor on PATH): give --radotp PATH, or build it beside this one with `cargo build --release -p radotp`",
        beside.map_or(String::new(), |b| format!("not at {}, ", b.display()))
    )))
}

/// Runs `radotp [--config C] --json token import --all-or-nothing CSV` and
/// reads its summary.
pub fn import(radotp: &Path, config: Option<&Path>, csv: &Path) -> anyhow::Result<ImportReport> {
    let mut cmd = Command::new(radotp);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.args(["--json", "token", "import", "--all-or-nothing"])
        .arg(csv);
    // Its stderr (a progress bar on a terminal) goes to ours.
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", radotp.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Option<serde_json::Value> = serde_json::from_str(stdout.trim()).ok();
    if !out.status.success() {
        let why = summary
            .as_ref()
            .map(|v| match v.get("error") {
                Some(e) => e.as_str().unwrap_or_default().to_string(),
                None => format!("bad lines: {}", v["bad_lines"]),
            })
            .unwrap_or_else(|| stdout.trim().to_string());
        anyhow::bail!(
            "{} token import {} failed ({}): {why}",
            radotp.display(),
            csv.display(),
            out.status
        );
    }
    let summary = summary.ok_or_else(|| {
        anyhow::anyhow!(
            "{} token import printed no JSON summary: {}",
            radotp.display(),
            stdout.trim()
        )
    })?;
    Ok(serde_json::from_value(summary)?)
}

/// Runs `provision`; `config` is passed on to radotp.
pub fn provision(p: &ProvisionArgs, config: Option<&Path>) -> anyhow::Result<ProvisionReport> {
    let started = Instant::now();
    // Found before anything is written: a missing binary is a usage error.
    let radotp = if p.import {
        Some(find_radotp(
            p.radotp.as_deref(),
            std::env::current_exe().ok().as_deref(),
            std::env::var_os("PATH"),
        )?)
    } else {
        None
    };
    let users = if p.totp + p.totp_pin + p.hotp_pin == 0 {
        read_seed_file(&p.seed_file)?
    } else {
        let mut u = generate(Group::Totp, p.totp, p.pin_length);
        u.extend(generate(Group::TotpPin, p.totp_pin, p.pin_length));
        u.extend(generate(Group::HotpPin, p.hotp_pin, p.pin_length));
        write_seed_file(&p.seed_file, &u)?;
        // A new population starts from a clean state.
        let _ = std::fs::remove_file(default_state_path(&p.seed_file));
        u
    };
    let csv = p.csv.clone().unwrap_or_else(|| {
        let mut s = p.seed_file.as_os_str().to_owned();
        s.push(".csv");
        PathBuf::from(s)
    });
    write_import_csv(&csv, &users)?;
    if let Some(f) = &p.freeradius_users {
        write_freeradius_users(f, &users, p.freeradius_limit)?;
    }
    let import = radotp.map(|r| import(&r, config, &csv)).transpose()?;
    if let Some(i) = &import {
        if i.imported != users.len() as u64 {
            anyhow::bail!(
                "radotp imported {} of the {} users of {}",
                i.imported,
                users.len(),
                csv.display()
            );
        }
    }
    Ok(ProvisionReport {
        users: users.len(),
        csv,
        import,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl ProvisionReport {
    /// The human form.
    pub fn text(&self, p: &ProvisionArgs) -> String {
        let mut msg = format!(
            "{} users in {}; CSV {}",
            self.users,
            p.seed_file.display(),
            self.csv.display()
        );
        if let Some(i) = &self.import {
            msg.push_str(&format!(
                "; imported into radotp: {} token(s), {} user(s) created in {:.1} s ({:.0}/s)",
                i.imported, i.users_created, i.seconds, i.rate_per_second
            ));
        }
        if let Some(f) = &p.freeradius_users {
            msg.push_str(&format!("; FreeRADIUS users file {}", f.display()));
        }
        msg.push_str(&format!(" ({:.1} s)\n", self.seconds));
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radotp_is_found_explicitly_beside_the_program_or_on_path_else_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let beside = dir.path().join("beside");
        let on_path = dir.path().join("on-path");
        std::fs::create_dir_all(&beside).unwrap();
        std::fs::create_dir_all(&on_path).unwrap();
        let exe = beside.join("radotp-bench");
        let path = std::env::join_paths([dir.path().join("none"), on_path.clone()]).unwrap();
        // Nowhere: the error names both places and the option.
        let e = find_radotp(None, Some(&exe), Some(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--radotp") && e.contains(&beside.join("radotp").display().to_string()),
            "{e}"
        );
        // On PATH only.
        std::fs::write(on_path.join("radotp"), "").unwrap();
        assert_eq!(
            find_radotp(None, Some(&exe), Some(path.clone())).unwrap(),
            on_path.join("radotp")
        );
        // Beside the program wins over PATH.
        std::fs::write(beside.join("radotp"), "").unwrap();
        assert_eq!(
            find_radotp(None, Some(&exe), Some(path.clone())).unwrap(),
            beside.join("radotp")
        );
        // --radotp wins, and must exist.
        let other = dir.path().join("other");
        let e = find_radotp(Some(&other), Some(&exe), Some(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--radotp") && e.contains("no such file"), "{e}");
        std::fs::write(&other, "").unwrap();
        assert_eq!(
            find_radotp(Some(&other), Some(&exe), Some(path)).unwrap(),
            other
        );
    }
}
