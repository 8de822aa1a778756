//! Every fixed size of the engine, in one place, each with the reason for
//! its value. Changing one of these changes memory use or the ABI of the
//! C library, so they are constants, not configuration.

/// Frames handled per batch: the unit of work everywhere. 64 matches the
/// usual AF_XDP/DPDK burst, fills a `u64` mask, and keeps a batch's
/// metadata (a few KiB) inside L1.
pub const BATCH_SIZE: usize = 64;

/// Ports per switch. A [`PortSet`](crate::vocab::PortSet) is one `u64`, so
/// flood sets are a single AND/OR; the C ABI returns output ports as a
/// `uint64_t` bitmap for the same reason.
pub const MAX_PORTS: usize = 64;

/// Largest frame (without FCS) the engine switches: a super-frame carrying
/// an IP datagram of the largest size (65535 bytes) behind an Ethernet
/// header and two tags (14 + 8). Frames are not limited by any buffer size
/// here: a port driver says what it can carry through
/// [`PortConfig::max_frame_len`](crate::port::PortConfig::max_frame_len),
/// and a frame may span several buffers ([`Frame`](crate::frame::Frame)).
pub const MAX_FRAME_LEN: usize = 65_535 + 14 + 8;

/// Smallest buffer headroom a driver must leave in front of a received
/// frame so the pipeline can push an 802.1Q tag in place; with less, a
/// push falls back to a spare copy (counted).
pub const MIN_HEADROOM: usize = VLAN_TAG_LEN;

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

/// Captures running at once. Each costs the workers a filter test per
/// frame at its point, and its records' memory.
pub const MAX_CAPTURES: usize = 8;

/// Memory a capture's records may take: 8 MiB holds 128 frames of 64 KiB
/// (super-frames) or 4096 of up to 2 KiB, about 5 ms of a 10 Gbit/s port
/// for the reader to fall behind before frames are lost.
pub const CAPTURE_BUFFER_BYTES: usize = 8 << 20;

/// Fewest records a capture keeps, whatever its snap length: two batches.
pub const CAPTURE_MIN_SLOTS: usize = 2 * BATCH_SIZE;

/// Most records a capture keeps (small snap lengths), so a reader drains
/// one in a bounded time.
pub const CAPTURE_MAX_SLOTS: usize = 4096;
