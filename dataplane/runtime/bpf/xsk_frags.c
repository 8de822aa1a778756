// SPDX-License-Identifier: MIT OR Apache-2.0
//
// vswitch's own XDP program for AF_XDP ports that carry frames larger than
// one UMEM chunk (multi-buffer AF_XDP, XDP_USE_SG). It does what libxdp's
// default program does -- redirect a frame to the AF_XDP socket bound to
// its receive queue, pass it to the stack when none is -- but is declared
// frags-aware (section "xdp.frags"): the kernel then hands it frames that
// span several buffers, and lets native XDP on veth run with a peer MTU
// above 3506 (dataplane/runtime/src/port/xsk.rs, `FRAME_SIZE`).
//
// Self-contained (no kernel or libbpf headers) so that it builds with
// nothing but clang: dataplane/runtime/build.rs compiles it at build time.

typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]

// include/uapi/linux/bpf.h
#define BPF_MAP_TYPE_XSKMAP 17
#define XDP_PASS 2

struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

// Helper 51: long bpf_redirect_map(void *map, __u64 key, __u64 flags).
static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)51;

// One entry per receive queue; vswitch puts each queue's socket at its
// index (xsk_socket__update_xskmap). 256 queues is more than any
// interface the switch opens (limits: one socket per receive queue).
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 256);
} xsks_map SEC(".maps");

SEC("xdp.frags")
int vswitch_xsk(struct xdp_md *ctx)
{
	// XDP_PASS as the flags' low bits: the action when the queue has no
	// socket in the map (the kernel's bpf_redirect_map contract).
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
