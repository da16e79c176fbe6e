//! MS-CHAP (RFC 2433) and MS-CHAP-V2 (RFC 2759) as carried by RADIUS
//! (RFC 2548), with MPPE key derivation (RFC 3079).
//!
//! The functions here are the pure building blocks of the two protocols,
//! named after the RFC pseudocode routines they implement
//! (`NtPasswordHash`, `ChallengeResponse`, `GenerateAuthenticatorResponse`,
//! `GetMasterKey`, ...). [`MsChap`] and [`MsChapV2`] hold what one
//! Access-Request carries and test candidate passwords against it: each
//! candidate costs one MD4 over the password and three DES encryptions, with
//! no heap allocation (the MS-CHAP-V2 ChallengeHash is computed once, when
//! the credential is extracted).

use md4::{Digest, Md4};
use sha1::Sha1;

use crate::secret::ct_eq;

/// An MS-CHAP (v1) credential.
#[derive(Debug, Clone)]
pub struct MsChap {
    /// The ident octet of MS-CHAP-Response.
    pub ident: u8,
    /// MS-CHAP-Challenge (8 bytes).
    pub challenge: [u8; 8],
    /// The NT-Response (24 bytes).
    pub nt_response: [u8; 24],
}

/// An MS-CHAP-V2 credential.
#[derive(Debug, Clone)]
pub struct MsChapV2 {
    /// The ident octet of MS-CHAP2-Response.
    pub ident: u8,
    /// MS-CHAP-Challenge (the authenticator challenge, 16 bytes).
    pub auth_challenge: [u8; 16],
    /// The peer challenge (16 bytes).
    pub peer_challenge: [u8; 16],
    /// The NT-Response (24 bytes).
    pub nt_response: [u8; 24],
    /// The user name used in ChallengeHash (User-Name without any `DOMAIN\` prefix).
    pub user_name: Vec<u8>,
    /// ChallengeHash(peer, auth, user) computed once per request.
    pub challenge_hash: [u8; 8],
}

impl MsChap {
    /// Does `candidate` produce this NT-Response (RFC 2433 §A.5)?
    /// The final comparison is constant-time.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        response_matches(
            &self.challenge,
            &nt_password_hash(candidate),
            &self.nt_response,
        )
    }

    /// The plaintext MS-CHAP-MPPE-Keys material for `password`
    /// (RFC 2548 §2.4.1, RFC 3079 §2): see [`ms_chap_v1_mppe_keys`].
    pub fn mppe_keys(&self, password: &[u8]) -> ([u8; 8], [u8; 16]) {
        ms_chap_v1_mppe_keys(password)
    }
}

impl MsChapV2 {
    /// Builds the credential and precomputes its ChallengeHash;
    /// `user_name` is the User-Name as received (any `DOMAIN\` prefix is
    /// removed here, RFC 2759 §4).
    pub fn new(
        ident: u8,
        auth_challenge: [u8; 16],
        peer_challenge: [u8; 16],
        nt_response: [u8; 24],
        user_name: &[u8],
    ) -> Self {
        let user = strip_domain(user_name);
        MsChapV2 {
            ident,
            auth_challenge,
            peer_challenge,
            nt_response,
            user_name: user.to_vec(),
            challenge_hash: challenge_hash(&peer_challenge, &auth_challenge, user),
        }
    }

    /// Does `candidate` produce this NT-Response (RFC 2759 §8.1)? Costs one
    /// MD4 and one DES encryption (three for the one that matches, see
    /// [`response_matches`]); constant-time comparisons.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let hash = nt_password_hash(candidate);
        response_matches(&self.challenge_hash, &hash, &self.nt_response)
    }

    /// The authenticator response (`S=` + 40 upper-case hex digits) for the
    /// matched `password` (RFC 2759 §8.7).
    pub fn authenticator_response(&self, password: &[u8]) -> String {
        let hash_hash = hash_nt_password_hash(&nt_password_hash(password));
        authenticator_response_from_parts(&hash_hash, &self.nt_response, &self.challenge_hash)
    }

    /// The server-side 128-bit MPPE start keys `(send, receive)` for the
    /// matched `password` (RFC 3079 §3.3/§3.4): the send key encrypts what
    /// the NAS sends to the peer (MS-MPPE-Send-Key), the receive key what it
    /// receives (MS-MPPE-Recv-Key).
    pub fn mppe_keys(&self, password: &[u8]) -> ([u8; 16], [u8; 16]) {
        ms_chap_v2_server_mppe_keys(password, &self.nt_response)
    }
}

/// `DOMAIN\user` -> `user` (everything after the last backslash); other names unchanged.
pub fn strip_domain(user: &[u8]) -> &[u8] {
    match user.iter().rposition(|&b| b == b'\\') {
        Some(i) => user.get(i + 1..).unwrap_or_default(),
        None => user,
    }
}

/// Feeds `password` to `hasher` as UTF-16LE: valid UTF-8 is converted
/// character by character (surrogate pairs included); anything else is
/// taken as Latin-1, one byte per UTF-16 unit. Uses a small stack buffer,
/// no heap allocation.
fn update_utf16le<D: Digest>(hasher: &mut D, password: &[u8]) {
    let mut buf = [0u8; 128];
    let mut n = 0usize;
    let mut push = |hasher: &mut D, unit: u16, n: &mut usize| {
        if *n + 2 > buf.len() {
            hasher.update(&buf[..*n]);
            *n = 0;
        }
        let [lo, hi] = unit.to_le_bytes();
        buf[*n] = lo;
        buf[*n + 1] = hi;
        *n += 2;
    };
    match std::str::from_utf8(password) {
        Ok(s) => {
            let mut units = [0u16; 2];
            for c in s.chars() {
                for &unit in c.encode_utf16(&mut units).iter() {
                    push(hasher, unit, &mut n);
                }
            }
        }
        Err(_) => {
            for &b in password {
                push(hasher, u16::from(b), &mut n);
            }
        }
    }
    hasher.update(&buf[..n]);
}

/// NtPasswordHash (RFC 2759 §8.3, RFC 2433 §A.6): MD4 over the password in
/// UTF-16LE. The password bytes are read as UTF-8; when they are not valid
/// UTF-8 each byte becomes one UTF-16 unit.
pub fn nt_password_hash(password: &[u8]) -> [u8; 16] {
    let mut md4 = Md4::new();
    update_utf16le(&mut md4, password);
    md4.finalize().into()
}

/// HashNtPasswordHash (RFC 2759 §8.4): MD4 of the password hash.
pub fn hash_nt_password_hash(password_hash: &[u8; 16]) -> [u8; 16] {
    Md4::digest(password_hash).into()
}

/// ChallengeHash (RFC 2759 §8.2): the first 8 octets of
/// SHA-1(peer challenge || authenticator challenge || user name). `user`
/// must already be stripped of any domain (see [`strip_domain`]).
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user: &[u8],
) -> [u8; 8] {
    let digest = Sha1::new()
        .chain_update(peer_challenge)
        .chain_update(auth_challenge)
        .chain_update(user)
        .finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// Expands a 7-octet (56-bit) DES key to 8 octets with odd parity in the
/// low bit of each octet (RFC 2759 §9.3, RFC 2433 §B.3).
pub fn des_key_with_parity(key7: &[u8; 7]) -> [u8; 8] {
    let bits = key7.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        // Seven key bits, most significant first, in the top of the octet.
        let seven = ((bits >> (49 - 7 * i)) & 0x7f) as u8;
        let b = seven << 1;
        *o = b | u8::from(b.count_ones().is_multiple_of(2));
    }
    out
}

/// DesEncrypt (RFC 2759 §8.6): one DES-ECB block under a 7-octet key.
fn des_encrypt(clear: &[u8; 8], key7: &[u8; 7]) -> [u8; 8] {
    super::des::encrypt(&des_key_with_parity(key7), clear)
}

/// ChallengeResponse (RFC 2759 §8.5, RFC 2433 §A.7): the password hash
/// zero-padded to 21 octets is cut into three 7-octet DES keys, each of
/// which encrypts the 8-octet challenge.
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(password_hash);
    let mut out = [0u8; 24];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        let mut key = [0u8; 7];
        key.copy_from_slice(&z[7 * i..7 * i + 7]);
        chunk.copy_from_slice(&des_encrypt(challenge, &key));
    }
    out
}

/// Is `response` the ChallengeResponse of `challenge` under
/// `password_hash`? The first DES block decides for every candidate but
/// the right one: the other two blocks are computed and all 24 octets
/// compared (in constant time) only when the first 8 match. A search over
/// many candidates thus costs one DES each, not three. What the timing
/// tells is whether some candidate's first block matched, which a sender
/// who does not know the password brings about with probability 2^-64.
fn response_matches(challenge: &[u8; 8], password_hash: &[u8; 16], response: &[u8; 24]) -> bool {
    let mut key = [0u8; 7];
    key.copy_from_slice(&password_hash[..7]);
    if !ct_eq(&des_encrypt(challenge, &key), &response[..8]) {
        return false;
    }
    ct_eq(&challenge_response(challenge, password_hash), response)
}

/// GenerateNTResponse (RFC 2759 §8.1), client side: `user` may carry a
/// `DOMAIN\` prefix, which is removed.
pub fn generate_nt_response(
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user: &[u8],
    password: &[u8],
) -> [u8; 24] {
    let challenge = challenge_hash(peer_challenge, auth_challenge, strip_domain(user));
    challenge_response(&challenge, &nt_password_hash(password))
}

/// RFC 2759 §8.7 Magic1.
const AUTH_MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
/// RFC 2759 §8.7 Magic2.
const AUTH_MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";

/// GenerateAuthenticatorResponse from precomputed parts: the password hash
/// hash, the NT-Response and the ChallengeHash.
pub fn authenticator_response_from_parts(
    password_hash_hash: &[u8; 16],
    nt_response: &[u8; 24],
    challenge_hash: &[u8; 8],
) -> String {
    let digest = Sha1::new()
        .chain_update(password_hash_hash)
        .chain_update(nt_response)
        .chain_update(AUTH_MAGIC1)
        .finalize();
    let digest = Sha1::new()
        .chain_update(digest)
        .chain_update(challenge_hash)
        .chain_update(AUTH_MAGIC2)
        .finalize();
    format!("S={}", data_encoding::HEXUPPER.encode(&digest))
}

/// GenerateAuthenticatorResponse (RFC 2759 §8.7): `S=` followed by 40
/// upper-case hex digits. `user` may carry a `DOMAIN\` prefix.
pub fn generate_authenticator_response(
    password: &[u8],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user: &[u8],
) -> String {
    let hash_hash = hash_nt_password_hash(&nt_password_hash(password));
    let challenge = challenge_hash(peer_challenge, auth_challenge, strip_domain(user));
    authenticator_response_from_parts(&hash_hash, nt_response, &challenge)
}

/// NtChallengeResponse (RFC 2433 §A.5): MS-CHAP v1 NT response.
pub fn nt_challenge_response(challenge: &[u8; 8], password: &[u8]) -> [u8; 24] {
    challenge_response(challenge, &nt_password_hash(password))
}

/// LmPasswordHash (RFC 2433 §A.2): the password upper-cased (ASCII), zero
/// padded to 14 octets, each half used as a DES key to encrypt
/// `KGS!@#$%`. `None` for passwords longer than 14 octets, which have no
/// LAN Manager hash.
pub fn lm_password_hash(password: &[u8]) -> Option<[u8; 16]> {
    if password.len() > 14 {
        return None;
    }
    let mut upper = [0u8; 14];
    for (u, &b) in upper.iter_mut().zip(password) {
        *u = b.to_ascii_uppercase();
    }
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_exact_mut(8).enumerate() {
        let mut key = [0u8; 7];
        key.copy_from_slice(&upper[7 * i..7 * i + 7]);
        half.copy_from_slice(&des_encrypt(b"KGS!@#$%", &key));
    }
    Some(out)
}

/// The MS-CHAP v1 MPPE key material (RFC 2548 §2.4.1, RFC 3079 §2):
/// `(LM-Key, NT-Key)`, where LM-Key is the first 8 octets of
/// LmPasswordHash (zero when the password has none) and NT-Key is
/// HashNtPasswordHash.
pub fn ms_chap_v1_mppe_keys(password: &[u8]) -> ([u8; 8], [u8; 16]) {
    let mut lm_key = [0u8; 8];
    if let Some(lm) = lm_password_hash(password) {
        lm_key.copy_from_slice(&lm[..8]);
    }
    (lm_key, hash_nt_password_hash(&nt_password_hash(password)))
}

/// RFC 3079 §3.4 Magic1.
const MPPE_MAGIC1: &[u8; 27] = b"This is the MPPE Master Key";
/// RFC 3079 §3.4 Magic2.
const MPPE_MAGIC2: &[u8; 84] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
/// RFC 3079 §3.4 Magic3.
const MPPE_MAGIC3: &[u8; 84] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";
/// RFC 3079 §3.4 SHSpad1.
const SHS_PAD1: [u8; 40] = [0u8; 40];
/// RFC 3079 §3.4 SHSpad2.
const SHS_PAD2: [u8; 40] = [0xf2u8; 40];

/// GetMasterKey (RFC 3079 §3.4): the first 16 octets of
/// SHA-1(PasswordHashHash || NT-Response || Magic1).
pub fn get_master_key(password_hash_hash: &[u8; 16], nt_response: &[u8; 24]) -> [u8; 16] {
    let digest = Sha1::new()
        .chain_update(password_hash_hash)
        .chain_update(nt_response)
        .chain_update(MPPE_MAGIC1)
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// GetAsymmetricStartKey (RFC 3079 §3.4) for a 128-bit key: Magic3 for the
/// server's send key and the client's receive key, Magic2 otherwise.
pub fn get_asymmetric_start_key(master_key: &[u8; 16], is_send: bool, is_server: bool) -> [u8; 16] {
    let magic = if is_send == is_server {
        MPPE_MAGIC3
    } else {
        MPPE_MAGIC2
    };
    let digest = Sha1::new()
        .chain_update(master_key)
        .chain_update(SHS_PAD1)
        .chain_update(magic)
        .chain_update(SHS_PAD2)
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// GetNewKeyFromSHA (RFC 3079 §3.3/§7.2) for a 128-bit key: the first 16
/// octets of SHA-1(StartKey || SHSpad1 || SessionKey || SHSpad2). With the
/// start key as both arguments it gives the initial session key.
pub fn get_new_key_from_sha(start_key: &[u8; 16], session_key: &[u8; 16]) -> [u8; 16] {
    let digest = Sha1::new()
        .chain_update(start_key)
        .chain_update(SHS_PAD1)
        .chain_update(session_key)
        .chain_update(SHS_PAD2)
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The server-side 128-bit MPPE start keys `(send, receive)` after an
/// MS-CHAP-V2 authentication with `password` and `nt_response`
/// (RFC 3079 §3): these are the MS-MPPE-Send-Key and MS-MPPE-Recv-Key values.
pub fn ms_chap_v2_server_mppe_keys(
    password: &[u8],
    nt_response: &[u8; 24],
) -> ([u8; 16], [u8; 16]) {
    let hash_hash = hash_nt_password_hash(&nt_password_hash(password));
    let master = get_master_key(&hash_hash, nt_response);
    (
        get_asymmetric_start_key(&master, true, true),
        get_asymmetric_start_key(&master, false, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    fn a<const N: usize>(s: &str) -> [u8; N] {
        h(s).try_into().unwrap()
    }

    // RFC 2759 §9.2 "Hash Example".
    const USER: &[u8] = b"User";
    const PASSWORD: &[u8] = b"clientPass";
    const AUTH_CHALLENGE: &str = "5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28";
    const PEER_CHALLENGE: &str = "21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E";
    const CHALLENGE: &str = "D0 2E 43 86 BC E9 12 26";
    const PASSWORD_HASH: &str = "44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE";
    const NT_RESPONSE: &str =
        "82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF";
    const PASSWORD_HASH_HASH: &str = "41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F";

    #[test]
    fn rfc2759_9_2_password_hash() {
        assert_eq!(nt_password_hash(PASSWORD), a::<16>(PASSWORD_HASH));
    }

    #[test]
    fn rfc2759_9_2_password_hash_hash() {
        assert_eq!(
            hash_nt_password_hash(&a(PASSWORD_HASH)),
            a::<16>(PASSWORD_HASH_HASH)
        );
    }

    #[test]
    fn rfc2759_9_2_challenge_hash() {
        assert_eq!(
            challenge_hash(&a(PEER_CHALLENGE), &a(AUTH_CHALLENGE), USER),
            a::<8>(CHALLENGE)
        );
    }

    // RFC 2759 §9.2 NT-Response: the first-block shortcut accepts it, and
    // refuses it with any one octet of any of the three blocks changed.
    #[test]
    fn rfc2759_9_2_nt_response_matches_all_three_blocks() {
        let (challenge, hash) = (a::<8>(CHALLENGE), a::<16>(PASSWORD_HASH));
        let right = a::<24>(NT_RESPONSE);
        assert!(response_matches(&challenge, &hash, &right));
        for i in 0..24 {
            let mut wrong = right;
            wrong[i] ^= 0x01;
            assert!(!response_matches(&challenge, &hash, &wrong), "octet {i}");
        }
        let mut other = hash;
        other[15] ^= 0x80;
        assert!(!response_matches(&challenge, &other, &right));
    }

    #[test]
    fn rfc2759_9_2_nt_response() {
        assert_eq!(
            challenge_response(&a(CHALLENGE), &a(PASSWORD_HASH)),
            a::<24>(NT_RESPONSE)
        );
        assert_eq!(
            generate_nt_response(&a(AUTH_CHALLENGE), &a(PEER_CHALLENGE), USER, PASSWORD),
            a::<24>(NT_RESPONSE)
        );
    }

    #[test]
    fn rfc2759_4_domain_prefix_is_not_hashed() {
        assert_eq!(
            generate_nt_response(
                &a(AUTH_CHALLENGE),
                &a(PEER_CHALLENGE),
                b"BIGCO\\User",
                PASSWORD
            ),
            a::<24>(NT_RESPONSE)
        );
        assert_eq!(strip_domain(b"A\\B\\c"), b"c");
        assert_eq!(strip_domain(b"trailing\\"), b"");
        assert_eq!(strip_domain(b"plain"), b"plain");
    }

    #[test]
    fn rfc2759_9_2_authenticator_response() {
        assert_eq!(
            generate_authenticator_response(
                PASSWORD,
                &a(NT_RESPONSE),
                &a(PEER_CHALLENGE),
                &a(AUTH_CHALLENGE),
                USER
            ),
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
        let cred = MsChapV2::new(
            1,
            a(AUTH_CHALLENGE),
            a(PEER_CHALLENGE),
            a(NT_RESPONSE),
            b"DOM\\User",
        );
        assert_eq!(
            cred.authenticator_response(PASSWORD),
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
    }

    #[test]
    fn rfc2759_9_2_credential_matches_only_the_password() {
        let cred = MsChapV2::new(
            7,
            a(AUTH_CHALLENGE),
            a(PEER_CHALLENGE),
            a(NT_RESPONSE),
            USER,
        );
        assert_eq!(cred.challenge_hash, a::<8>(CHALLENGE));
        assert_eq!(cred.user_name, USER);
        assert!(cred.matches(PASSWORD));
        assert!(!cred.matches(b"clientPasS"));
        assert!(!cred.matches(b""));
    }

    #[test]
    fn rfc2759_9_3_des_key_parity() {
        assert_eq!(
            nt_password_hash(b"MyPw"),
            a::<16>("FC 15 6A F7 ED CD 6C 0E DD E3 33 7D 42 7F 4E AC")
        );
        assert_eq!(
            des_key_with_parity(&a("FC 15 6A F7 ED CD 6C")),
            a::<8>("FD 0B 5B 5E 7F 6E 34 D9")
        );
        assert_eq!(
            des_key_with_parity(&a("0E DD E3 33 7D 42 7F")),
            a::<8>("0E 6E 79 67 37 EA 08 FE")
        );
    }

    #[test]
    fn rfc2433_b_2_nt_challenge_response() {
        let challenge = a::<8>("10 2D B5 DF 08 5D 30 41");
        let expected =
            a::<24>("4E 9D 3C 8F 9C FD 38 5D 5B F4 D3 24 67 91 95 6C A4 C3 51 AB 40 9A 3D 61");
        assert_eq!(nt_challenge_response(&challenge, b"MyPw"), expected);
        let cred = MsChap {
            ident: 1,
            challenge,
            nt_response: expected,
        };
        assert!(cred.matches(b"MyPw"));
        assert!(!cred.matches(b"mypw"));
    }

    // RFC 3079 §3.5.3 "Sample 128-bit Key Derivation" (same user, password
    // and challenges as RFC 2759 §9.2).
    #[test]
    fn rfc3079_3_5_master_key_and_128bit_send_recv_keys() {
        let master = get_master_key(&a(PASSWORD_HASH_HASH), &a(NT_RESPONSE));
        assert_eq!(
            master,
            a::<16>("FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31")
        );
        let send_start = a::<16>("8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB");
        // The RFC's sample derives the server's send key (IsSend, IsServer).
        assert_eq!(get_asymmetric_start_key(&master, true, true), send_start);
        // The two directions mirror each other and differ.
        assert_eq!(
            get_asymmetric_start_key(&master, true, false),
            get_asymmetric_start_key(&master, false, true)
        );
        assert_eq!(get_asymmetric_start_key(&master, false, false), send_start);
        assert_ne!(get_asymmetric_start_key(&master, false, true), send_start);
        assert_eq!(
            get_new_key_from_sha(&send_start, &send_start),
            a::<16>("40 5C B2 24 7A 79 56 E6 E2 11 00 7A E2 7B 22 D4")
        );
        let (send, recv) = ms_chap_v2_server_mppe_keys(PASSWORD, &a(NT_RESPONSE));
        assert_eq!(send, send_start);
        assert_eq!(recv, get_asymmetric_start_key(&master, false, true));
    }

    // [MS-NLMP] §4.2.2.1.1 (LMOWFv1 of "Password") and the well-known LM
    // hash of the empty password.
    #[test]
    fn ms_nlmp_4_2_2_1_1_lm_password_hash() {
        assert_eq!(
            lm_password_hash(b"Password"),
            Some(a::<16>("E52CAC67419A9A224A3B108F3FA6CB6D"))
        );
        assert_eq!(
            lm_password_hash(b""),
            Some(a::<16>("AAD3B435B51404EEAAD3B435B51404EE"))
        );
        assert_eq!(lm_password_hash(b"123456789012345"), None);
        let (lm, nt) = ms_chap_v1_mppe_keys(b"Password");
        assert_eq!(lm, a::<8>("E52CAC67419A9A22"));
        assert_eq!(nt, hash_nt_password_hash(&nt_password_hash(b"Password")));
    }

    #[test]
    fn nt_hash_of_non_ascii_and_invalid_utf8() {
        // "é" (U+00E9) is 0xC3 0xA9 in UTF-8 and 0xE9 0x00 in UTF-16LE; the
        // lone byte 0xE9 (invalid UTF-8) maps to the same unit.
        assert_eq!(nt_password_hash("é".as_bytes()), nt_password_hash(&[0xe9]));
        assert_eq!(
            nt_password_hash(&[0xe9]),
            <[u8; 16]>::from(Md4::digest([0xe9, 0x00]))
        );
        // U+1F600 is a surrogate pair D83D DE00.
        assert_eq!(
            nt_password_hash("\u{1F600}".as_bytes()),
            <[u8; 16]>::from(Md4::digest([0x3d, 0xd8, 0x00, 0xde]))
        );
        // Long passwords cross the stack buffer boundary.
        let long = vec![b'a'; 300];
        let utf16: Vec<u8> = long.iter().flat_map(|&b| [b, 0]).collect();
        assert_eq!(
            nt_password_hash(&long),
            <[u8; 16]>::from(Md4::digest(&utf16))
        );
    }
}
