//! The RADIUS wire format (RFC 2865, 2866, 2869, 3579, 5997, 2548), no I/O.
//!
//! [`Packet::decode`] turns a datagram into a [`Packet`] or a
//! [`DecodeError`]; encoding builds responses with the Response
//! Authenticator and a Message-Authenticator. [`crypto`] holds the
//! User-Password hiding, the authenticators and the RFC 2548 key salting.

pub mod attribute;
pub mod crypto;
pub mod dictfile;
pub mod dictionary;
pub mod packet;

pub use attribute::Attribute;
pub use packet::{Code, DecodeError, Packet};
