//! The EAP parsers of `auth::eap` and `auth::eap_tls`: EAP packets, the
//! EAP-TLS-style fragment frames through a bounded reassembly, TTLS AVPs,
//! PEAPv0 inner packets and the Result TLV. Input: a sequence of chunks,
//! each one length octet then that many bytes. No input may panic; a
//! fragmented message must reassemble to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use radotp::auth::eap::{self, EapPacket};
use radotp::auth::eap_tls::{self, Fragmenter, Reassembly, TlsFrame};

fuzz_target!(|data: &[u8]| {
    let mut r = Reassembly::new(4096);
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        if let Ok(p) = EapPacket::decode(chunk) {
            let _ = format!("{p:?}");
            assert_eq!(EapPacket::decode(&p.encode()).as_ref(), Ok(&p));
            let _ = eap::parse_mschapv2_response(&p.data);
            let _ = eap_tls::parse_peap_result(&p.data);
        }
        if let Ok(f) = TlsFrame::parse(chunk) {
            if let Ok(Some(m)) = r.push(&f) {
                assert!(m.len() <= 4096);
            }
        }
        let _ = eap_tls::parse_ttls(chunk);
        let _ = eap_tls::parse_avps(chunk);
        let _ = eap_tls::peap_inner_response(chunk, 1);
    }
    // Fragmenting then reassembling gives the message back.
    let size = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut out = Fragmenter::new(data.to_vec(), size, 0);
    let mut back = Reassembly::new(usize::MAX);
    let mut got = None;
    while !out.done() {
        let td = out.next_fragment();
        let f = TlsFrame::parse(&td).expect("own frames parse");
        got = back.push(&f).expect("own fragments reassemble");
    }
    assert_eq!(got.as_deref(), Some(data));
});
