//! Every fixed size of the engine, in one place, each with the reason for
//! its value. Changing one of these changes memory use or the ABI of the
//! C library, so they are constants, not configuration.

/// Frames handled per batch: the unit of work everywhere. 64 matches the
/// usual AF_XDP/DPDK burst, fills a `u64` mask, and keeps a batch's
/// metadata (a few KiB) inside L1.
pub const BATCH_SIZE: usize = 64;

/// Ports per switch. A [`PortSet`](crate::port::PortSet) is one `u64`, so
/// flood sets are a single AND/OR; the C ABI returns output ports as a
/// `uint64_t` bitmap for the same reason.
pub const MAX_PORTS: usize = 64;

/// Bytes per frame buffer (one UMEM chunk). 4096 is one page and the largest
/// chunk that native XDP on veth accepts (LAB.md: peer MTU caps at 3506).
pub const FRAME_SIZE: usize = 4096;

/// Bytes reserved in front of received data. The kernel's
/// `XDP_PACKET_HEADROOM` is 256; the engine needs only 4 per pushed 802.1Q
/// tag, so the rest is slack for future encapsulations.
pub const HEADROOM: usize = 256;

/// Largest frame (without FCS) a buffer can hold after its headroom.
pub const MAX_FRAME_LEN: usize = FRAME_SIZE - HEADROOM;

/// An 802.1Q tag: TPID (2 bytes) + TCI (2 bytes).
pub const VLAN_TAG_LEN: usize = 4;

/// Highest number of threads that may read the FDB at once (workers plus
/// embedders). Each one owns a cache-line sized announcement slot.
pub const MAX_FDB_READERS: usize = 64;

/// Smallest and largest FDB capacity accepted. The upper bound keeps the
/// table (16 bytes a slot, ~80 % full) under 512 MiB.
pub const FDB_CAPACITY_RANGE: core::ops::RangeInclusive<usize> = 16..=16 * 1024 * 1024;

/// Largest MAC aging time in seconds (about 11.6 days). Last-seen stamps are
/// 24-bit seconds and compared modulo 2^24; ages must stay below 2^23.
pub const MAX_AGING_SECS: u32 = 1_000_000;
