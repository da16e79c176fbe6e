//! MS-CHAP (RFC 2433) and MS-CHAP-V2 (RFC 2759) as carried by RADIUS
//! (RFC 2548), with MPPE key derivation (RFC 3079).

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
