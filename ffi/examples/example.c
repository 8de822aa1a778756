/*
 * Embedding vswitch's engine from C: a three-port switch.
 *
 *   port 0: access VLAN 10 (host A)
 *   port 1: access VLAN 10 (host B)
 *   port 2: trunk carrying VLANs 10 and 20, tagged
 *
 * A broadcasts (flooded: untagged to port 1, tagged copy to the trunk),
 * a host behind the trunk answers A (the tag is popped in place), then
 * the FDB and the counters are printed.
 *
 * Build (see ffi/README.md):
 *   cargo build -p vswitch-ffi --release
 *   cc -Iffi/include ffi/examples/example.c target/release/libvswitch.a \
 *      -lelf -lz -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o example
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch.h"

#define HEADROOM 128
#define BUF_SIZE 2048

static int failed(const char *what, int32_t rc) {
    fprintf(stderr, "%s: %s (%d)\n", what, vsw_strerror(rc), rc);
    return 1;
}

static void print_ports(const char *label, uint64_t ports) {
    printf("%s", label);
    if (!ports) printf(" none");
    for (int p = 0; p < VSW_MAX_PORTS; p++)
        if (ports & (1ULL << p)) printf(" %d", p);
    printf("\n");
}

static void print_frame(const char *label, const uint8_t *data, size_t len) {
    printf("  %s (%zu bytes):", label, len);
    for (size_t i = 0; i < len && i < 18; i++) printf(" %02x", data[i]);
    printf(" ...\n");
}

/* A 60-byte frame: dst, src, optional 802.1Q tag, EtherType 0x0800, zeros. */
static size_t make_frame(uint8_t *out, const uint8_t dst[6], const uint8_t src[6], int vid) {
    size_t n = 0;
    memcpy(out + n, dst, 6);
    n += 6;
    memcpy(out + n, src, 6);
    n += 6;
    if (vid > 0) {
        out[n++] = 0x81;
        out[n++] = 0x00;
        out[n++] = (uint8_t)(vid >> 8);
        out[n++] = (uint8_t)vid;
    }
    out[n++] = 0x08;
    out[n++] = 0x00;
    memset(out + n, 0, 46);
    return n + 46;
}

/* Switches one frame received on `port` and prints what goes where. */
static int switch_one(vsw_engine *e, uint8_t port, uint32_t now, uint8_t *buf, size_t len) {
    static uint8_t spare_buf[BUF_SIZE];
    vsw_frame f = {.buf = buf, .capacity = BUF_SIZE, .offset = HEADROOM, .len = len};
    vsw_spare spare = {.buf = spare_buf, .capacity = sizeof spare_buf, .offset = HEADROOM};
    size_t used = 0;
    int32_t rc = vsw_process(e, port, now, &f, 1, &spare, 1, &used);
    if (rc != VSW_OK) return failed("vsw_process", rc);
    printf("frame received on port %u:\n", port);
    if (f.drop_reason != VSW_FORWARDED) {
        printf("  dropped: %s\n", vsw_drop_reason_name(f.drop_reason));
        return 0;
    }
    print_ports("  frame buffer goes to ports:", f.ports);
    print_frame("frame", f.buf + f.offset, f.len);
    if (f.copy_spare >= 0) {
        print_ports("  copy (other encoding) goes to ports:", f.copy_ports);
        print_frame("copy", spare.buf + spare.offset, spare.len);
    }
    if (f.unsent_ports) print_ports("  could not be sent to ports:", f.unsent_ports);
    return 0;
}

int main(void) {
    printf("libvswitch %s, ABI %u\n", vsw_version(), vsw_abi_version());
    if (vsw_abi_version() != VSW_ABI_VERSION) {
        fprintf(stderr, "header and library ABI versions differ\n");
        return 1;
    }

    vsw_engine *e = NULL;
    int32_t rc = vsw_engine_new(4096, 300, &e);
    if (rc != VSW_OK) return failed("vsw_engine_new", rc);

    vsw_port_config access, trunk;
    vsw_port_config_init(&access, VSW_MODE_ACCESS, 10);
    vsw_port_config_init(&trunk, VSW_MODE_TRUNK, 0);
    trunk.trunk_vlans = "10,20";
    if ((rc = vsw_port_add(e, 0, &access)) != VSW_OK ||
        (rc = vsw_port_add(e, 1, &access)) != VSW_OK ||
        (rc = vsw_port_add(e, 2, &trunk)) != VSW_OK) {
        vsw_engine_free(e);
        return failed("vsw_port_add", rc);
    }

    const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t host_a[6] = {0x02, 0, 0, 0, 0, 0x0a};
    const uint8_t host_c[6] = {0x02, 0, 0, 0, 0, 0x0c};
    static uint8_t buf[BUF_SIZE];
    int err = 0;

    /* 1. A broadcasts in VLAN 10 */
    size_t len = make_frame(buf + HEADROOM, bcast, host_a, 0);
    err |= switch_one(e, 0, 1, buf, len);

    /* 2. C, behind the trunk, answers A tagged with VLAN 10 */
    len = make_frame(buf + HEADROOM, host_a, host_c, 10);
    err |= switch_one(e, 2, 2, buf, len);

    /* 3. the FDB */
    vsw_fdb_entry entries[16];
    size_t n = 0;
    rc = vsw_fdb_entries(e, 3, entries, 16, &n);
    if (rc != VSW_OK) err |= failed("vsw_fdb_entries", rc);
    printf("fdb (%zu entries):\n", n);
    for (size_t i = 0; i < n && i < 16; i++) {
        const uint8_t *m = entries[i].mac;
        printf("  vlan %4u  %02x:%02x:%02x:%02x:%02x:%02x  port %u  %s, age %us\n",
               entries[i].vlan, m[0], m[1], m[2], m[3], m[4], m[5], entries[i].port,
               entries[i].is_static ? "static" : "learned", entries[i].age_secs);
    }

    /* 4. counters */
    for (uint8_t p = 0; p < 3; p++) {
        vsw_port_stats c;
        rc = vsw_port_counters(e, p, &c);
        if (rc != VSW_OK) {
            err |= failed("vsw_port_counters", rc);
            continue;
        }
        printf("port %u: rx %llu frames / %llu bytes, tx %llu frames / %llu bytes\n", p,
               (unsigned long long)c.rx_packets, (unsigned long long)c.rx_bytes,
               (unsigned long long)c.tx_packets, (unsigned long long)c.tx_bytes);
    }
    uint64_t copies = 0;
    vsw_event_count(e, VSW_EVENT_EGRESS_COPIES, &copies);
    printf("%s: %llu\n", vsw_event_name(VSW_EVENT_EGRESS_COPIES), (unsigned long long)copies);

    /* 5. once a second, a real dataplane ages the table */
    vsw_sweep_report report;
    rc = vsw_age_sweep(e, 4, &report);
    if (rc != VSW_OK) err |= failed("vsw_age_sweep", rc);

    vsw_engine_free(e);
    return err;
}
