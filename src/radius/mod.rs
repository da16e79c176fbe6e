//! The RADIUS wire format (RFC 2865, 2866, 2869, 3579, 5997, 2548), no I/O.
//!
//! The codec, [`packet`]: [`Packet::decode`] turns a datagram into a
//! [`Packet`] or a [`DecodeError`]; [`packet::encode_response`] and
//! [`packet::encode_request`] build signed datagrams (Response
//! Authenticator, Message-Authenticator first). [`crypto`] holds the
//! User-Password hiding, the checks of received authenticators, the keyed
//! hashes the codec signs with, and the RFC 2548 key salting.

pub mod attribute;
pub mod crypto;
pub mod dictfile;
pub mod dictionary;
pub mod packet;

pub use attribute::Attribute;
pub use packet::{Code, DecodeError, Packet};
