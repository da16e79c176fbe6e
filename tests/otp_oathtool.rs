//! Compares `radotp::otp::totp` and `hotp` with an independent
//! implementation, the `oathtool` command of OATH Toolkit.
//!
//! Every call pins the time with `-N @<unix>`, and the seeds come from a
//! seeded RNG, so the test is deterministic. oathtool's HOTP mode is
//! HMAC-SHA-1 only; TOTP covers SHA-1, SHA-256 and SHA-512. A missing
//! oathtool is a failure, not a skip.

use std::io::ErrorKind;
use std::process::Command;

use radotp::otp::{hotp, step_at, totp, Algorithm};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Codes generated per oathtool call: the pinned step/counter and the
/// `WINDOW` following ones (`-w`).
const WINDOW: u64 = 3;

/// Runs oathtool and returns the codes it prints, one per line.
fn oathtool(args: &[String]) -> Vec<String> {
    let output = match Command::new("oathtool").args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("oathtool not found: install it with `apt-get install -y oathtool`")
        }
        Err(e) => panic!("cannot run oathtool: {e}"),
    };
    assert!(
        output.status.success(),
        "oathtool {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("oathtool prints ASCII")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Seeds of the lengths RFC 6238 uses for each hash, plus odd lengths.
fn seeds(rng: &mut StdRng) -> Vec<Vec<u8>> {
    [10usize, 20, 32, 64, 100]
        .iter()
        .map(|len| (0..*len).map(|_| rng.gen()).collect())
        .collect()
}

#[test]
fn totp_matches_oathtool() {
    let mut rng = StdRng::seed_from_u64(0x7261_646f_7470);
    let seeds = seeds(&mut rng);
    let mut times = vec![0u64, 59, 1_111_111_109, 1_234_567_890, 2_000_000_000];
    times.extend((0..3).map(|_| rng.gen_range(1_500_000_000u64..4_000_000_000)));
    let mut compared = 0;
    for (algorithm, mode) in [
        (Algorithm::Sha1, "SHA1"),
        (Algorithm::Sha256, "SHA256"),
        (Algorithm::Sha512, "SHA512"),
    ] {
        for digits in [6u32, 8] {
            for period in [30u32, 60] {
                for (i, seed) in seeds.iter().enumerate() {
                    // Every seed at two of the times, rotating, to bound the runtime.
                    for unix in [times[i % times.len()], times[(i + 3) % times.len()]] {
                        let codes = oathtool(&[
                            format!("--totp={mode}"),
                            format!("--digits={digits}"),
                            format!("--time-step-size={period}s"),
                            format!("--now=@{unix}"),
                            format!("--window={WINDOW}"),
                            hex::encode(seed),
                        ]);
                        assert_eq!(codes.len() as u64, WINDOW + 1, "{codes:?}");
                        for (k, code) in codes.iter().enumerate() {
                            let at = unix + k as u64 * u64::from(period);
                            let ours = totp(algorithm, seed, at, period, digits);
                            assert_eq!(
                                format!("{ours:0width$}", width = digits as usize),
                                *code,
                                "{mode} digits={digits} period={period} unix={at} seed={}",
                                hex::encode(seed)
                            );
                            assert_eq!(step_at(at, period), step_at(unix, period) + k as u64);
                            compared += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(compared, 3 * 2 * 2 * 5 * 2 * (WINDOW as usize + 1));
}

#[test]
fn hotp_matches_oathtool() {
    let mut rng = StdRng::seed_from_u64(0x686f_7470);
    let seeds = seeds(&mut rng);
    let mut counters = vec![0u64, 1, 9, 1 << 32, u64::MAX - WINDOW];
    counters.extend((0..3).map(|_| rng.gen::<u64>() >> rng.gen_range(0..64)));
    for digits in [6u32, 8] {
        for seed in &seeds {
            for &counter in &counters {
                let codes = oathtool(&[
                    "--hotp".to_owned(),
                    format!("--digits={digits}"),
                    format!("--counter={counter}"),
                    format!("--window={WINDOW}"),
                    hex::encode(seed),
                ]);
                assert_eq!(codes.len() as u64, WINDOW + 1, "{codes:?}");
                for (k, code) in codes.iter().enumerate() {
                    let c = counter + k as u64;
                    let ours = hotp(Algorithm::Sha1, seed, c, digits);
                    assert_eq!(
                        format!("{ours:0width$}", width = digits as usize),
                        *code,
                        "digits={digits} counter={c} seed={}",
                        hex::encode(seed)
                    );
                }
            }
        }
    }
}
