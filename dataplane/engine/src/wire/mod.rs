//! Zero-copy typed views over frame bytes (smoltcp `wire` style): a view
//! validates length once in `new_checked`, then every accessor is
//! infallible. Parsing never copies the frame and never panics; anything
//! the engine cannot use is reported as a [`DropReason`](crate::vocab::DropReason).
//! Field offsets and TPIDs are written down once, in `ethernet.rs`.

mod dot1q;
mod ethernet;
mod mac;

pub use dot1q::{Tci, VlanId, VlanIdError};
pub(crate) use ethernet::field as ethernet_field;
pub use ethernet::{
    EtherType, EthernetFrame, L2Header, TagKind, HEADER_LEN, TAGGED_HEADER_LEN, TPID_8021AD,
    TPID_8021Q,
};
pub use mac::{Mac, MacParseError};
