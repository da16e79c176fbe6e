//! TOTP (RFC 6238): HOTP over the time step T = floor(unix / period), T0 = 0.
//!
//! The step is the moving factor that the candidate search and the replay
//! protection work with; [`totp`] is [`super::hotp`] at [`step_at`].

use super::Algorithm;

/// The time step that holds `unix` for a given period (T0 = 0).
///
/// The period is validated (10..=300 s) where tokens are created; a zero
/// period is treated as one second here rather than dividing by zero.
pub fn step_at(unix: u64, period: u32) -> u64 {
    unix / u64::from(period.max(1))
}

/// The TOTP value at `unix`.
pub fn totp(algorithm: Algorithm, key: &[u8], unix: u64, period: u32, digits: u32) -> u32 {
    super::hotp(algorithm, key, step_at(unix, period), digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B seeds: the ASCII digits "1234567890" repeated to
    /// 20 (SHA-1), 32 (SHA-256) and 64 (SHA-512) bytes.
    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    #[test]
    fn rfc6238_appendix_b_totp_values() {
        use Algorithm::*;
        let rows: [(u64, u64, u32, Algorithm); 18] = [
            (59, 0x1, 94287082, Sha1),
            (59, 0x1, 46119246, Sha256),
            (59, 0x1, 90693936, Sha512),
            (1111111109, 0x23523EC, 7081804, Sha1),
            (1111111109, 0x23523EC, 68084774, Sha256),
            (1111111109, 0x23523EC, 25091201, Sha512),
            (1111111111, 0x23523ED, 14050471, Sha1),
            (1111111111, 0x23523ED, 67062674, Sha256),
            (1111111111, 0x23523ED, 99943326, Sha512),
            (1234567890, 0x273EF07, 89005924, Sha1),
            (1234567890, 0x273EF07, 91819424, Sha256),
            (1234567890, 0x273EF07, 93441116, Sha512),
            (2000000000, 0x3F940AA, 69279037, Sha1),
            (2000000000, 0x3F940AA, 90698825, Sha256),
            (2000000000, 0x3F940AA, 38618901, Sha512),
            (20000000000, 0x27BC86AA, 65353130, Sha1),
            (20000000000, 0x27BC86AA, 77737706, Sha256),
            (20000000000, 0x27BC86AA, 47863826, Sha512),
        ];
        for (unix, step, want, alg) in rows {
            let seed = match alg {
                Sha1 => SEED_SHA1,
                Sha256 => SEED_SHA256,
                _ => SEED_SHA512,
            };
            assert_eq!(step_at(unix, 30), step, "T at {unix}");
            assert_eq!(totp(alg, seed, unix, 30, 8), want, "{alg} at {unix}");
        }
    }

    #[test]
    fn rfc6238_4_2_step_boundaries() {
        assert_eq!(step_at(0, 30), 0);
        assert_eq!(step_at(29, 30), 0);
        assert_eq!(step_at(30, 30), 1);
        assert_eq!(step_at(59, 60), 0);
        assert_eq!(step_at(60, 60), 1);
        assert_eq!(step_at(u64::MAX, 10), u64::MAX / 10);
    }

    #[test]
    fn zero_period_does_not_panic() {
        assert_eq!(step_at(1234, 0), 1234);
        let _ = totp(Algorithm::Sha1, SEED_SHA1, 1234, 0, 6);
    }
}
