//! Credential extraction from a decoded packet (PAP, CHAP, MS-CHAP,
//! MS-CHAP-V2), then matching candidates and building the Accept and
//! Reject attributes, as the handler does. Input: 1 byte candidate length,
//! the candidate, then the datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;
use radotp::auth::{Credential, MsChapErrorCode};
use radotp::radius::{packet, Code, Packet};

const SECRET: &[u8] = b"testing123";

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 40).min(rest.len());
    let (candidate, datagram) = rest.split_at(n);
    let Ok(packet) = Packet::decode(datagram) else {
        return;
    };
    let Ok(Some(cred)) = Credential::from_packet(&packet, SECRET) else {
        return;
    };
    let _ = cred.method();
    let _ = format!("{cred:?}");
    let hit = cred.matches(candidate);
    let _ = cred.matches(b"123456");
    let _ = cred.matches(b"");
    let accept = cred.accept_attributes(candidate, &packet, SECRET);
    let _ = packet::encode_response(Code::AccessAccept, &packet, accept, SECRET);
    for e in [
        MsChapErrorCode::AuthenticationFailure,
        MsChapErrorCode::AccountDisabled,
    ] {
        let reject = cred.reject_attributes(e);
        let _ = packet::encode_response(Code::AccessReject, &packet, reject, SECRET);
    }
    std::hint::black_box(hit);
});
