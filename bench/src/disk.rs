//! `radotp-bench disk`: what the disk under the store costs a durable Accept.
//!
//! radotp sends no Access-Accept before the replay state it recorded is on
//! disk: a write to the journal and an `fdatasync`, one for every Accept
//! that arrived meanwhile (group commit). A request that arrives while a
//! flush is under way waits for that flush to end and then for its own.
//! So a disk whose flushes now and then stall for tens of milliseconds
//! (a virtual disk whose host is busy, a drive's cache flush) sets a floor
//! under the latency of every durable server on it, however fast the
//! server is.
//!
//! This probe measures that floor without RADIUS. It lays out a 4 MiB
//! file of zeros in the directory (the store's by default, so the same
//! file system), then writes `--write-bytes` into it and calls
//! `fdatasync`, `--rate` times a second for `--duration` seconds, the way
//! the journal does: the blocks are allocated and written before the first
//! timed flush, so no flush commits new metadata. It sleeps between
//! flushes (it loads no core) and starts the next at once when one ran
//! late. It reports the flush latency, how many took longer than the
//! threshold, and the *stalled share*: the share of the run's time at
//! which the flush under way still had more than the threshold to run.
//! A request arriving at such a moment waits longer than the threshold,
//! so at least that share of a durable server's Accepts do on this disk
//! at a steady load. The file is removed at the end.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use crate::load::Latency;
use crate::UsageError;

/// Size of the probe file: the writes go round it.
const FILE_BYTES: u64 = 4 << 20;
/// Largest `--write-bytes`.
const MAX_WRITE: usize = 1 << 20;
/// Longest `--duration`, seconds.
const MAX_DURATION: f64 = 3600.0;

/// `disk` options.
#[derive(Debug, Clone, Args)]
pub struct DiskArgs {
    /// Directory to probe (default: the store's directory from --config, or
    /// the directory that will hold it).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Flushes a second (0: one after another, as fast as the disk goes).
    /// radotp flushed 2,000-2,700 times a second at half of its peak here.
    #[arg(long, default_value_t = 2500)]
    pub rate: u32,
    /// How long to measure, seconds.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Bytes written before each flush (a journal entry is 76 bytes per
    /// Accept; a flush at half load carries about 20).
    #[arg(long, default_value_t = 1024)]
    pub write_bytes: usize,
    /// A flush that takes longer than this many milliseconds is slow.
    #[arg(long, default_value_t = 2.0)]
    pub threshold_ms: f64,
}

/// What `disk` measured.
#[derive(Debug, Clone, Serialize)]
pub struct DiskReport {
    /// The directory probed.
    pub dir: PathBuf,
    /// Flushes timed.
    pub flushes: u64,
    /// Wall time of the timed part, seconds.
    pub seconds: f64,
    /// Flushes a second achieved.
    pub flushes_per_sec: f64,
    /// Bytes written before each flush.
    pub write_bytes: usize,
    /// Write + `fdatasync`, microseconds.
    pub latency_us: Latency,
    /// The threshold, milliseconds.
    pub threshold_ms: f64,
    /// Flushes longer than the threshold.
    pub slow: u64,
    /// The same, per second.
    pub slow_per_sec: f64,
    /// Percent of the run's time at which the flush under way still had
    /// more than the threshold to run.
    pub stalled_percent: f64,
}

impl DiskReport {
    /// The human form.
    pub fn text(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let l = &self.latency_us;
        format!(
            "disk {}: {} flushes in {:.1} s ({:.0}/s), {} bytes written before each\n\
             write + fdatasync ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n\
             over {} ms: {} ({:.1}/s); a flush under way had more than {} ms to run {:.2} % of the time\n\
             (requests arriving evenly in time: at least {:.2} % of a durable server's Accepts wait over {} ms here)\n",
            self.dir.display(),
            self.flushes,
            self.seconds,
            self.flushes_per_sec,
            self.write_bytes,
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            self.threshold_ms,
            self.slow,
            self.slow_per_sec,
            self.threshold_ms,
            self.stalled_percent,
            self.stalled_percent,
            self.threshold_ms,
        )
    }
}

/// The share of `wall` (percent) at which the flush under way still had more
/// than `threshold` to run: for each flush, the part of it before its last
/// `threshold`. Flushes run one after another, so the parts do not overlap.
pub fn stalled_percent(durations: &[Duration], threshold: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    let stalled: Duration = durations.iter().map(|d| d.saturating_sub(threshold)).sum();
    100.0 * stalled.as_secs_f64() / wall.as_secs_f64()
}

/// The store's directory when it exists, else the one that will hold it.
pub fn default_dir(store: &Path) -> PathBuf {
    if store.is_dir() {
        return store.to_path_buf();
    }
    match store.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn check(a: &DiskArgs) -> Result<(), UsageError> {
    if !(a.duration > 0.0 && a.duration <= MAX_DURATION) {
        return Err(UsageError(format!(
            "radotp-bench disk: --duration {} is out of range: give seconds, more than 0 and at most {MAX_DURATION}",
            a.duration
        )));
    }
    if a.write_bytes == 0 || a.write_bytes > MAX_WRITE {
        return Err(UsageError(format!(
            "radotp-bench disk: --write-bytes {} is out of range: give 1 to {MAX_WRITE}",
            a.write_bytes
        )));
    }
    if !(a.threshold_ms > 0.0 && a.threshold_ms.is_finite()) {
        return Err(UsageError(format!(
            "radotp-bench disk: --threshold-ms {} is out of range: give milliseconds, more than 0",
            a.threshold_ms
        )));
    }
    Ok(())
}

/// Removes the probe file however the probe ends.
struct ProbeFile {
    path: PathBuf,
    file: File,
}

impl Drop for ProbeFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ProbeFile {
    fn create(dir: &Path) -> anyhow::Result<ProbeFile> {
        if !dir.is_dir() {
            return Err(UsageError(format!(
                "radotp-bench disk: {} is not a directory: give --dir a directory on the file system that holds (or will hold) the store",
                dir.display()
            ))
            .into());
        }
        let path = dir.join(format!(".radotp-disk-probe.{}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                anyhow::anyhow!("radotp-bench disk: cannot create {}: {e}", path.display())
            })?;
        let mut probe = ProbeFile { path, file };
        // Lay the file out: every block allocated and written, so the timed
        // flushes carry data only, as the journal's do.
        let zeros = vec![0u8; 64 << 10];
        let mut left = FILE_BYTES;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            probe.file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        probe.file.sync_all()?;
        Ok(probe)
    }
}

/// Measures the disk under `dir`.
pub fn probe(dir: &Path, a: &DiskArgs) -> anyhow::Result<DiskReport> {
    check(a)?;
    let probe = ProbeFile::create(dir)?;
    let data: Vec<u8> = (0..a.write_bytes).map(|i| (i % 251) as u8 + 1).collect();
    let interval = (a.rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(a.rate)));
    let run_for = Duration::from_secs_f64(a.duration);
    let span = FILE_BYTES - FILE_BYTES % a.write_bytes as u64;
    let mut durations: Vec<Duration> = Vec::new();
    let mut offset = 0u64;
    let start = Instant::now();
    let mut next = start;
    loop {
        if interval.is_some() {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
        let t = Instant::now();
        if t.duration_since(start) >= run_for {
            break;
        }
        probe.file.write_all_at(&data, offset)?;
        probe.file.sync_data()?;
        let done = Instant::now();
        durations.push(done - t);
        offset = (offset + a.write_bytes as u64) % span;
        if let Some(iv) = interval {
            // A flush that ran late is followed at once, as a server's next
            // batch would be; the schedule then goes on from there.
            next = (next + iv).max(done);
        }
    }
    let wall = start.elapsed();
    let threshold = Duration::from_secs_f64(a.threshold_ms / 1000.0);
    let slow = durations.iter().filter(|d| **d > threshold).count() as u64;
    let stalled = stalled_percent(&durations, threshold, wall);
    let micros: Vec<u32> = durations
        .iter()
        .map(|d| d.as_micros().min(u128::from(u32::MAX)) as u32)
        .collect();
    let secs = wall.as_secs_f64();
    Ok(DiskReport {
        dir: dir.to_path_buf(),
        flushes: micros.len() as u64,
        seconds: secs,
        flushes_per_sec: micros.len() as f64 / secs,
        write_bytes: a.write_bytes,
        latency_us: Latency::of(micros),
        threshold_ms: a.threshold_ms,
        slow,
        slow_per_sec: slow as f64 / secs,
        stalled_percent: stalled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn stalled_share_counts_each_flush_before_its_last_threshold() {
        // One second: flushes of 1, 2, 5 and 12 ms against 2 ms: only the
        // 5-ms and the 12-ms flush had more than 2 ms to run, for 3 and 10 ms.
        let d = [ms(1), ms(2), ms(5), ms(12)];
        let p = stalled_percent(&d, ms(2), ms(1000));
        assert!((p - 1.3).abs() < 1e-9, "{p}");
        assert_eq!(stalled_percent(&[ms(1), ms(2)], ms(2), ms(1000)), 0.0);
        assert_eq!(stalled_percent(&d, ms(2), Duration::ZERO), 0.0);
    }

    fn args(rate: u32, duration: f64) -> DiskArgs {
        DiskArgs {
            dir: None,
            rate,
            duration,
            write_bytes: 1024,
            threshold_ms: 2.0,
        }
    }

    #[test]
    fn disk_probe_paces_its_flushes_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = probe(dir.path(), &args(200, 0.5)).unwrap();
        // 200 a second for half a second: about 100, fewer when the disk
        // stalls (a late flush is not made up with a burst).
        assert!(r.flushes > 0 && r.flushes <= 101, "{r:?}");
        assert!(r.latency_us.p50 <= r.latency_us.max, "{r:?}");
        assert!(r.latency_us.max > 0, "{r:?}");
        assert!(r.slow <= r.flushes, "{r:?}");
        assert!((0.0..=100.0).contains(&r.stalled_percent), "{r:?}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the probe file is left behind"
        );
    }

    #[test]
    fn disk_probe_refuses_a_missing_directory_and_bad_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = probe(&missing, &args(100, 0.1)).unwrap_err().to_string();
        assert!(
            e.contains("is not a directory") && e.contains("--dir"),
            "{e}"
        );
        for (a, word) in [
            (args(100, 0.0), "--duration"),
            (args(100, 1e9), "--duration"),
            (
                DiskArgs {
                    write_bytes: 0,
                    ..args(100, 0.1)
                },
                "--write-bytes",
            ),
            (
                DiskArgs {
                    threshold_ms: -1.0,
                    ..args(100, 0.1)
                },
                "--threshold-ms",
            ),
        ] {
            let e = probe(dir.path(), &a).unwrap_err().to_string();
            assert!(e.contains(word), "{e}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
