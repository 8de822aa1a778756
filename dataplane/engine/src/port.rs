//! How one port switches, as the engine sees it: its VLAN mode, behaviour
//! flags and largest frame. Kernel-facing port drivers live in the port
//! runtime crate, not here.

use crate::limits::MAX_FRAME_LEN;
use crate::policy::PortPolicy;
use crate::shaping::PortShaping;
use crate::vlan::VlanMode;

/// How one port switches: its VLAN mode and behaviour flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Access, trunk or guest tagging.
    pub vlan: VlanMode,
    /// Learn source MACs of frames received here.
    pub learning: bool,
    /// Receive floods of unknown unicast (broadcast and multicast still come).
    pub flood_unknown_unicast: bool,
    /// Also receive a copy of every frame forwarded in this port's VLANs.
    pub promiscuous: bool,
    /// Largest tagged frame (without FCS, tag included) this port takes
    /// and transmits: MTU + 14 + 4. An untagged frame may be 4 bytes
    /// shorter than this (the payload never exceeds the MTU); a
    /// super-frame is measured by its largest segment
    /// ([`Frame::wire_len`](crate::frame::Frame::wire_len)). Longer ones
    /// are dropped as `too_large`, on receipt or at output.
    pub max_frame_len: usize,
    /// Traffic shaping per direction (none by default).
    pub shaping: PortShaping,
    /// Security policy and MAC-learning limit.
    pub policy: PortPolicy,
}

impl PortConfig {
    /// A port with the defaults of the config file: learning, unknown
    /// unicast floods, not promiscuous, the largest frame a buffer holds.
    pub fn new(vlan: VlanMode) -> PortConfig {
        PortConfig {
            vlan,
            learning: true,
            flood_unknown_unicast: true,
            promiscuous: false,
            max_frame_len: MAX_FRAME_LEN,
            shaping: PortShaping::default(),
            policy: PortPolicy::default(),
        }
    }
}
