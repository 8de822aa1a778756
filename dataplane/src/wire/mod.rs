//! Zero-copy typed views over frame bytes (smoltcp `wire` style): a view
//! validates length once in `new_checked`, then every accessor is
//! infallible. Parsing never copies the frame and never panics; anything
//! the engine cannot use is reported as a [`DropReason`](crate::stats::DropReason).

mod dot1q;
mod ethernet;
mod mac;

pub use dot1q::{Tci, VlanId, VlanIdError};
pub use ethernet::{EtherType, EthernetFrame, L2Header, TagKind, HEADER_LEN, TAGGED_HEADER_LEN};
pub use mac::{Mac, MacParseError};
