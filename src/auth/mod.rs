//! Authentication methods: how a password travels in an Access-Request.
//!
//! [`Credential::from_packet`] extracts PAP, CHAP, MS-CHAP or MS-CHAP-V2
//! material from a decoded request; [`Credential::matches`] tests one
//! candidate password (PIN followed by an OTP code) against it without ever
//! seeing the code itself for the hashed methods; [`Credential::accept_attributes`]
//! and [`Credential::reject_attributes`] build the method's reply attributes
//! (MS-CHAP2-Success, MPPE keys, MS-CHAP-Error). [`client`] builds the same
//! material on the client side for `radotp probe` and `radotp bench`.
//! Pure functions, no I/O.

pub mod chap;
pub mod client;
pub mod mschap;
pub mod pap;

use std::fmt;

use crate::radius::{Attribute, Packet};

pub use chap::Chap;
pub use mschap::{MsChap, MsChapV2};
pub use pap::Pap;

/// The method a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Pap,
    Chap,
    MsChap,
    MsChapV2,
}

impl Method {
    /// Lower-case name for logs, metrics and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Pap => "pap",
            Method::Chap => "chap",
            Method::MsChap => "mschap",
            Method::MsChapV2 => "mschapv2",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "pap" => Ok(Method::Pap),
            "chap" => Ok(Method::Chap),
            "mschap" | "mschapv1" | "mschap1" => Ok(Method::MsChap),
            "mschapv2" | "mschap2" => Ok(Method::MsChapV2),
            _ => Err(format!(
                "unknown method '{s}': expected pap, chap, mschap or mschapv2"
            )),
        }
    }
}

/// Why the credential attributes of a request are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("User-Password: {0}")]
    BadPassword(String),
    #[error("CHAP-Password must be 17 bytes, got {0}")]
    BadChapPassword(usize),
    #[error("CHAP-Challenge must be 1 to 253 bytes... got {0}")]
    BadChapChallenge(usize),
    #[error("MS-CHAP-Challenge must be {expected} bytes, got {got}")]
    BadMsChapChallenge { expected: usize, got: usize },
    #[error("MS-CHAP-Response must be 50 bytes, got {0}")]
    BadMsChapResponse(usize),
    #[error("MS-CHAP-Response uses only the LM response, which radotp does not accept")]
    LmResponseOnly,
    #[error("MS-CHAP2-Response must be 50 bytes, got {0}")]
    BadMsChap2Response(usize),
    #[error("MS-CHAP2-Response reserved bytes or flags are not zero")]
    BadMsChap2Reserved,
    #[error("MS-CHAP response without MS-CHAP-Challenge")]
    MissingMsChapChallenge,
    #[error("request carries more than one credential ({0} and {1})")]
    Ambiguous(Method, Method),
}

/// MS-CHAP error codes (RFC 2759 §6, RFC 2433).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsChapErrorCode {
    /// 646 ERROR_RESTRICTED_LOGON_HOURS
    RestrictedLogonHours,
    /// 647 ERROR_ACCT_DISABLED (also used for a locked-out user)
    AccountDisabled,
    /// 648 ERROR_PASSWD_EXPIRED
    PasswordExpired,
    /// 649 ERROR_NO_DIALIN_PERMISSION
    NoDialinPermission,
    /// 691 ERROR_AUTHENTICATION_FAILURE
    AuthenticationFailure,
}

impl MsChapErrorCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            MsChapErrorCode::RestrictedLogonHours => 646,
            MsChapErrorCode::AccountDisabled => 647,
            MsChapErrorCode::PasswordExpired => 648,
            MsChapErrorCode::NoDialinPermission => 649,
            MsChapErrorCode::AuthenticationFailure => 691,
        }
    }
}

/// The credential carried by one Access-Request.
#[derive(Debug, Clone)]
pub enum Credential {
    Pap(Pap),
    Chap(Chap),
    MsChap(MsChap),
    MsChapV2(MsChapV2),
}

impl Credential {
    /// Extracts the credential. `Ok(None)`: the request carries none of the
    /// four (EAP, say). More than one: [`AuthError::Ambiguous`].
    pub fn from_packet(packet: &Packet, secret: &[u8]) -> Result<Option<Credential>, AuthError> {
        todo!("{:?} {}", packet.code, secret.len())
    }

    /// The method.
    pub fn method(&self) -> Method {
        match self {
            Credential::Pap(_) => Method::Pap,
            Credential::Chap(_) => Method::Chap,
            Credential::MsChap(_) => Method::MsChap,
            Credential::MsChapV2(_) => Method::MsChapV2,
        }
    }

    /// Does `candidate` (the cleartext password: PIN followed by code) match?
    /// Constant-time in the comparison of the final values.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        todo!("{}", candidate.len())
    }

    /// Reply attributes for an Access-Accept once `password` matched:
    /// MS-CHAP: MS-CHAP-MPPE-Keys, MS-MPPE-Encryption-Policy/Types;
    /// MS-CHAP-V2: MS-CHAP2-Success, MS-MPPE-Send-Key, MS-MPPE-Recv-Key,
    /// MS-MPPE-Encryption-Policy/Types. PAP and CHAP: none.
    pub fn accept_attributes(
        &self,
        password: &[u8],
        request: &Packet,
        secret: &[u8],
    ) -> Vec<Attribute> {
        todo!("{} {:?} {}", password.len(), request.code, secret.len())
    }

    /// Reply attributes for an Access-Reject: MS-CHAP-Error for the MS
    /// methods (`E=<code> R=0 C=<hex> V=3` for v2), none otherwise.
    pub fn reject_attributes(&self, error: MsChapErrorCode) -> Vec<Attribute> {
        todo!("{error:?}")
    }
}
