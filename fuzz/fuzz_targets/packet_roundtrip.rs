//! Packet decode → encode → decode: whatever the strict decoder accepts must
//! encode to the same bytes and decode to the same packet. The response and
//! request encoders and the authenticator checks must not panic on it either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use radotp::radius::{packet, Code, Packet};

const SECRET: &[u8] = b"testing123";

fuzz_target!(|data: &[u8]| {
    let Ok(first) = Packet::decode(data) else {
        return;
    };
    let bytes = first.encode().expect("a decoded packet re-encodes");
    assert_eq!(bytes, data, "encode(decode(x)) == x");
    let second = Packet::decode(&bytes).expect("re-encoded packet decodes");
    assert_eq!(first, second, "decode(encode(p)) == p");

    // Authenticity checks and reply encoding on hostile input: no panic.
    let _ = packet::check_message_authenticator(data, &first, SECRET, None);
    let _ = packet::verify_accounting_request(data, SECRET);
    let _ = packet::verify_response(data, &first.authenticator, SECRET);
    let _ = packet::encode_response(Code::AccessReject, &first, Vec::new(), SECRET);
    if let Ok(req) = packet::encode_request(&first, SECRET, true) {
        // A request we encode with a Message-Authenticator must verify.
        let p = Packet::decode(&req).expect("encoded request decodes");
        assert_eq!(
            packet::check_message_authenticator(&req, &p, SECRET, None),
            packet::MessageAuthenticator::Valid
        );
    }
});
