//! Kernel-facing port drivers: [`afxdp`] (AF_XDP sockets on the owning
//! worker's UMEM, wrapped once in [`xsk`]).

pub mod afxdp;
pub mod xsk;
