/*
 * C test suite of libvswitch, through the committed header only.
 *
 * - every function with NULL and invalid arguments;
 * - the engine's scenario table (dataplane/tests/scenarios.rs), checked
 *   byte for byte per output port through vsw_process;
 * - batches, spares, headroom, the FDB, counters, ports.
 *
 * ffi/check.sh builds it against libvswitch.a and runs it under valgrind
 * (and AddressSanitizer). Exit status 0 only if every check passed; the
 * last line is "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch.h"

/* ----- a minimal harness ----- */

static int check_failures;
static const char *current_test = "";

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            check_failures++;                                                      \
            fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__,  \
                    current_test, #cond);                                          \
        }                                                                          \
    } while (0)

#define CHECK_RC(expr, want)                                                       \
    do {                                                                           \
        int32_t rc_ = (expr);                                                      \
        if (rc_ != (want)) {                                                       \
            check_failures++;                                                      \
            fprintf(stderr, "%s:%d: [%s] %s returned %d (%s), expected %d (%s)\n",  \
                    __FILE__, __LINE__, current_test, #expr, rc_, vsw_strerror(rc_), \
                    (int)(want), vsw_strerror(want));                              \
        }                                                                          \
    } while (0)

static int tests_passed, tests_failed;

static void run_test(const char *name, void (*fn)(void)) {
    int before = check_failures;
    current_test = name;
    fn();
    if (check_failures == before) {
        tests_passed++;
        printf("ok   %s\n", name);
    } else {
        tests_failed++;
        printf("FAIL %s\n", name);
    }
}

#define RUN(fn) run_test(#fn, fn)

/* ----- frames, as in dataplane/tests/scenarios.rs ----- */

#define MAC_A 0x02000000000aULL
#define MAC_B 0x02000000000bULL
#define MAC_C 0x02000000000cULL
#define BCAST 0xffffffffffffULL
#define MCAST 0x01005e000001ULL

typedef struct {
    uint64_t dst, src;
    int tagged;
    uint8_t pcp, dei;
    uint16_t vid;
    size_t payload;  /* bytes 0, 1, 2, ... after EtherType 0x0800 */
    uint16_t tpid;   /* 0 = 0x8100 */
    size_t truncate; /* 0 = whole frame */
} fspec;

#define UNTAGGED(d, s) {(d), (s), 0, 0, 0, 0, 46, 0, 0}
#define TAGGED(d, s, pcp, vid) {(d), (s), 1, (pcp), 0, (vid), 46, 0, 0}

static size_t build(uint8_t *out, const fspec *f) {
    size_t n = 0;
    for (int i = 5; i >= 0; i--) out[n++] = (uint8_t)(f->dst >> (8 * i));
    for (int i = 5; i >= 0; i--) out[n++] = (uint8_t)(f->src >> (8 * i));
    if (f->tagged) {
        uint16_t tpid = f->tpid ? f->tpid : 0x8100;
        uint16_t tci = (uint16_t)((f->pcp << 13) | (f->dei << 12) | f->vid);
        out[n++] = (uint8_t)(tpid >> 8);
        out[n++] = (uint8_t)tpid;
        out[n++] = (uint8_t)(tci >> 8);
        out[n++] = (uint8_t)tci;
    }
    out[n++] = 0x08;
    out[n++] = 0x00;
    for (size_t i = 0; i < f->payload; i++) out[n++] = (uint8_t)i;
    if (f->truncate && f->truncate < n) n = f->truncate;
    return n;
}

static void mac_bytes(uint64_t mac, uint8_t out[6]) {
    for (int i = 0; i < 6; i++) out[i] = (uint8_t)(mac >> (8 * (5 - i)));
}

/* ----- the lab: p0 access 10, p1 access 10, p2 access 20,
 * p3 trunk 10,20,30 (no native), p4 trunk 10,20 native 20, p5 guest ----- */

#define LAB_PORTS 6

typedef void (*tweak_fn)(vsw_port_config *cfg);

static void lab_configs(vsw_port_config cfg[LAB_PORTS]) {
    CHECK_RC(vsw_port_config_init(&cfg[0], VSW_MODE_ACCESS, 10), VSW_OK);
    CHECK_RC(vsw_port_config_init(&cfg[1], VSW_MODE_ACCESS, 10), VSW_OK);
    CHECK_RC(vsw_port_config_init(&cfg[2], VSW_MODE_ACCESS, 20), VSW_OK);
    CHECK_RC(vsw_port_config_init(&cfg[3], VSW_MODE_TRUNK, 0), VSW_OK);
    cfg[3].trunk_vlans = "10,20,30";
    CHECK_RC(vsw_port_config_init(&cfg[4], VSW_MODE_TRUNK, 20), VSW_OK);
    cfg[4].trunk_vlans = "10,20";
    CHECK_RC(vsw_port_config_init(&cfg[5], VSW_MODE_GUEST, 0), VSW_OK);
}

static vsw_engine *lab(tweak_fn tweak) {
    vsw_engine *e = NULL;
    vsw_port_config cfg[LAB_PORTS];
    CHECK_RC(vsw_engine_new(4096, 300, &e), VSW_OK);
    lab_configs(cfg);
    if (tweak) tweak(cfg);
    for (uint8_t p = 0; p < LAB_PORTS; p++) CHECK_RC(vsw_port_add(e, p, &cfg[p]), VSW_OK);
    return e;
}

/* Switches one frame with 128 bytes of headroom and one spare; returns the
 * result in *f (the data stays in buf/spare_buf). */
static void send_one_(vsw_engine *e, uint8_t port, const fspec *spec, uint8_t *buf, size_t cap,
                      vsw_frame *f, uint8_t *spare_buf, size_t spare_cap, vsw_spare *sp) {
    size_t len = build(buf + 128, spec);
    memset(f, 0, sizeof *f);
    f->buf = buf;
    f->capacity = cap;
    f->offset = 128;
    f->len = len;
    sp->buf = spare_buf;
    sp->capacity = spare_cap;
    sp->offset = 128;
    sp->len = 0;
    size_t used = 99;
    CHECK_RC(vsw_process(e, port, 0, f, 1, sp, 1, &used), VSW_OK);
    CHECK(used <= 1);
    CHECK(used == (f->copy_spare == 0 ? 1u : 0u));
}

/* buf and spare_buf are arrays: their sizes are taken with sizeof */
#define send_one(e, port, spec, buf, f, spare_buf, sp) \
    send_one_((e), (port), (spec), (buf), sizeof(buf), (f), (spare_buf), sizeof(spare_buf), (sp))

static void warm(vsw_engine *e, uint8_t port, fspec spec) {
    uint8_t buf[4096], sbuf[4096];
    vsw_frame f;
    vsw_spare sp;
    send_one(e, port, &spec, buf, &f, sbuf, &sp);
}

static void dump(const char *what, const uint8_t *p, size_t n) {
    fprintf(stderr, "    %s (%zu bytes):", what, n);
    for (size_t i = 0; i < n && i < 24; i++) fprintf(stderr, " %02x", p[i]);
    fprintf(stderr, n > 24 ? " ...\n" : "\n");
}

/* ----- the scenario table ----- */

typedef struct {
    int port;
    fspec f;
} port_frame;

typedef struct {
    const char *name;
    tweak_fn tweak;
    int n_warmup;
    port_frame warmup[2];
    port_frame input;
    int32_t drop; /* VSW_FORWARDED or a VSW_DROP_* */
    int n_expect;
    port_frame expect[4]; /* exact bytes per port; other ports send nothing */
    uint64_t unsent;
    int event; /* an event the input must count once, or -1 */
} scenario;

static void p1_no_unknown_flood(vsw_port_config *c) { c[1].flood_unknown_unicast = 0; }
static void p1_promiscuous(vsw_port_config *c) { c[1].promiscuous = 1; }
static void p0_no_learning(vsw_port_config *c) { c[0].learning = 0; }
static void p3_max_1518(vsw_port_config *c) { c[3].max_frame_len = 1518; }

#define BIG(tagged_, vid_) {BCAST, MAC_A, (tagged_), 0, 0, (vid_), 1518 - 14, 0, 0}

static const scenario scenarios[] = {
    {"access broadcast floods its VLAN in each port's encoding", NULL, 0, {{0}},
     {0, UNTAGGED(BCAST, MAC_A)}, VSW_FORWARDED, 4,
     {{1, UNTAGGED(BCAST, MAC_A)}, {3, TAGGED(BCAST, MAC_A, 0, 10)},
      {4, TAGGED(BCAST, MAC_A, 0, 10)}, {5, TAGGED(BCAST, MAC_A, 0, 10)}},
     0, VSW_EVENT_FLOOD},
    {"priority tag on access is untagged with PCP kept on trunks", NULL, 0, {{0}},
     {0, TAGGED(BCAST, MAC_A, 5, 0)}, VSW_FORWARDED, 4,
     {{1, UNTAGGED(BCAST, MAC_A)}, {3, TAGGED(BCAST, MAC_A, 5, 10)},
      {4, TAGGED(BCAST, MAC_A, 5, 10)}, {5, TAGGED(BCAST, MAC_A, 5, 10)}},
     0, VSW_EVENT_EGRESS_COPIES},
    {"tagged frame on access is dropped", NULL, 0, {{0}}, {0, TAGGED(BCAST, MAC_A, 0, 10)},
     VSW_DROP_TAGGED_ON_ACCESS, 0, {{0}}, 0, -1},
    {"trunk VID reaches access untagged, native trunk untagged, guest tagged with PCP", NULL, 0,
     {{0}}, {3, TAGGED(BCAST, MAC_A, 3, 20)}, VSW_FORWARDED, 3,
     {{2, UNTAGGED(BCAST, MAC_A)}, {4, UNTAGGED(BCAST, MAC_A)}, {5, TAGGED(BCAST, MAC_A, 3, 20)}},
     0, -1},
    {"trunk-only VLAN goes trunk to guest, tag and PCP kept", NULL, 0, {{0}},
     {3, TAGGED(BCAST, MAC_A, 7, 30)}, VSW_FORWARDED, 1, {{5, TAGGED(BCAST, MAC_A, 7, 30)}}, 0,
     -1},
    {"trunk drops a VID outside its allowed set", NULL, 0, {{0}}, {3, TAGGED(BCAST, MAC_A, 0, 40)},
     VSW_DROP_VLAN_NOT_ALLOWED, 0, {{0}}, 0, -1},
    {"untagged on a trunk without native VLAN is dropped", NULL, 0, {{0}},
     {3, UNTAGGED(BCAST, MAC_A)}, VSW_DROP_UNTAGGED_NO_NATIVE, 0, {{0}}, 0, -1},
    {"untagged on a trunk joins the native VLAN", NULL, 0, {{0}}, {4, UNTAGGED(BCAST, MAC_A)},
     VSW_FORWARDED, 3,
     {{2, UNTAGGED(BCAST, MAC_A)}, {3, TAGGED(BCAST, MAC_A, 0, 20)},
      {5, TAGGED(BCAST, MAC_A, 0, 20)}},
     0, -1},
    {"priority tag on a trunk joins the native VLAN with PCP kept", NULL, 0, {{0}},
     {4, TAGGED(BCAST, MAC_A, 6, 0)}, VSW_FORWARDED, 3,
     {{2, UNTAGGED(BCAST, MAC_A)}, {3, TAGGED(BCAST, MAC_A, 6, 20)},
      {5, TAGGED(BCAST, MAC_A, 6, 20)}},
     0, -1},
    {"the native VLAN is also accepted tagged", NULL, 0, {{0}}, {4, TAGGED(BCAST, MAC_A, 2, 20)},
     VSW_FORWARDED, 3,
     {{2, UNTAGGED(BCAST, MAC_A)}, {3, TAGGED(BCAST, MAC_A, 2, 20)},
      {5, TAGGED(BCAST, MAC_A, 2, 20)}},
     0, -1},
    {"802.1ad outer tag is dropped on a trunk", NULL, 0, {{0}},
     {3, {BCAST, MAC_A, 1, 0, 0, 10, 46, 0x88a8, 0}}, VSW_DROP_QINQ_UNSUPPORTED, 0, {{0}}, 0, -1},
    {"reserved VID 4095 is dropped even on a guest port", NULL, 0, {{0}},
     {5, TAGGED(BCAST, MAC_A, 0, 4095)}, VSW_DROP_VLAN_RESERVED, 0, {{0}}, 0, -1},
    {"a VLAN no other port carries has no output", NULL, 0, {{0}},
     {5, TAGGED(BCAST, MAC_A, 0, 100)}, VSW_DROP_NO_OUTPUT, 0, {{0}}, 0, -1},
    {"learned unicast goes to its one port, bytes untouched", NULL, 1,
     {{1, UNTAGGED(MAC_A, MAC_B)}}, {0, UNTAGGED(MAC_B, MAC_A)}, VSW_FORWARDED, 1,
     {{1, UNTAGGED(MAC_B, MAC_A)}}, 0, VSW_EVENT_UNICAST},
    {"learned unicast access to trunk pushes the tag", NULL, 1,
     {{3, TAGGED(MAC_A, MAC_B, 0, 10)}}, {0, UNTAGGED(MAC_B, MAC_A)}, VSW_FORWARDED, 1,
     {{3, TAGGED(MAC_B, MAC_A, 0, 10)}}, 0, VSW_EVENT_UNICAST},
    {"learned unicast trunk to access pops the tag", NULL, 1, {{0, UNTAGGED(MAC_B, MAC_A)}},
     {3, TAGGED(MAC_A, MAC_B, 4, 10)}, VSW_FORWARDED, 1, {{0, UNTAGGED(MAC_A, MAC_B)}}, 0,
     VSW_EVENT_UNICAST},
    {"unknown unicast skips ports with flood_unknown_unicast off", p1_no_unknown_flood, 0, {{0}},
     {0, UNTAGGED(MAC_C, MAC_A)}, VSW_FORWARDED, 3,
     {{3, TAGGED(MAC_C, MAC_A, 0, 10)}, {4, TAGGED(MAC_C, MAC_A, 0, 10)},
      {5, TAGGED(MAC_C, MAC_A, 0, 10)}},
     0, VSW_EVENT_UNKNOWN_UNICAST},
    {"flood_unknown_unicast off still receives multicast", p1_no_unknown_flood, 0, {{0}},
     {0, UNTAGGED(MCAST, MAC_A)}, VSW_FORWARDED, 4,
     {{1, UNTAGGED(MCAST, MAC_A)}, {3, TAGGED(MCAST, MAC_A, 0, 10)},
      {4, TAGGED(MCAST, MAC_A, 0, 10)}, {5, TAGGED(MCAST, MAC_A, 0, 10)}},
     0, VSW_EVENT_FLOOD},
    {"promiscuous port gets a copy of known unicast in its own encoding", p1_promiscuous, 1,
     {{3, TAGGED(MAC_A, MAC_B, 0, 10)}}, {0, UNTAGGED(MAC_B, MAC_A)}, VSW_FORWARDED, 2,
     {{1, UNTAGGED(MAC_B, MAC_A)}, {3, TAGGED(MAC_B, MAC_A, 0, 10)}}, 0, VSW_EVENT_UNICAST},
    {"destination learned on the ingress port is dropped", NULL, 1,
     {{0, UNTAGGED(BCAST, MAC_B)}}, {0, UNTAGGED(MAC_B, MAC_A)}, VSW_DROP_SAME_PORT, 0, {{0}}, 0,
     -1},
    {"learning off: the source stays unknown", p0_no_learning, 1, {{0, UNTAGGED(BCAST, MAC_A)}},
     {3, TAGGED(MAC_A, MAC_B, 0, 10)}, VSW_FORWARDED, 4,
     {{0, UNTAGGED(MAC_A, MAC_B)}, {1, UNTAGGED(MAC_A, MAC_B)}, {4, TAGGED(MAC_A, MAC_B, 0, 10)},
      {5, TAGGED(MAC_A, MAC_B, 0, 10)}},
     0, VSW_EVENT_UNKNOWN_UNICAST},
    {"a MAC seen on another port moves", NULL, 2,
     {{0, UNTAGGED(BCAST, MAC_A)}, {1, UNTAGGED(BCAST, MAC_A)}}, {3, TAGGED(MAC_A, MAC_B, 0, 10)},
     VSW_FORWARDED, 1, {{1, UNTAGGED(MAC_A, MAC_B)}}, 0, VSW_EVENT_UNICAST},
    {"a MAC learned in one VLAN is unknown in another", NULL, 1, {{0, UNTAGGED(BCAST, MAC_A)}},
     {2, UNTAGGED(MAC_A, MAC_B)}, VSW_FORWARDED, 3,
     {{3, TAGGED(MAC_A, MAC_B, 0, 20)}, {4, UNTAGGED(MAC_A, MAC_B)},
      {5, TAGGED(MAC_A, MAC_B, 0, 20)}},
     0, VSW_EVENT_UNKNOWN_UNICAST},
    {"a frame too large once tagged is dropped on that port only", p3_max_1518, 0, {{0}},
     {0, BIG(0, 0)}, VSW_FORWARDED, 3, {{1, BIG(0, 0)}, {4, BIG(1, 10)}, {5, BIG(1, 10)}},
     1u << 3, VSW_EVENT_FLOOD},
    {"DEI is kept with PCP", NULL, 0, {{0}}, {3, {BCAST, MAC_A, 1, 1, 1, 30, 46, 0, 0}},
     VSW_FORWARDED, 1, {{5, {BCAST, MAC_A, 1, 1, 1, 30, 46, 0, 0}}}, 0, -1},
    {"runt is dropped", NULL, 0, {{0}}, {0, {BCAST, BCAST, 0, 0, 0, 0, 46, 0, 13}},
     VSW_DROP_RUNT, 0, {{0}}, 0, -1},
    {"truncated 802.1Q tag is dropped", NULL, 0, {{0}}, {3, {BCAST, MAC_A, 1, 0, 0, 10, 46, 0, 16}},
     VSW_DROP_TRUNCATED_VLAN_TAG, 0, {{0}}, 0, -1},
};

static const scenario *the_scenario;

static void run_scenario(void) {
    const scenario *s = the_scenario;
    vsw_engine *e = lab(s->tweak);
    if (!e) return;
    for (int i = 0; i < s->n_warmup; i++) warm(e, (uint8_t)s->warmup[i].port, s->warmup[i].f);

    uint64_t event_before = 0, event_after = 0, drops_before = 0, drops_after = 0;
    if (s->event >= 0) CHECK_RC(vsw_event_count(e, s->event, &event_before), VSW_OK);
    if (s->drop >= 0) CHECK_RC(vsw_drop_count(e, s->drop, &drops_before), VSW_OK);

    static uint8_t buf[4096], sbuf[4096];
    vsw_frame f;
    vsw_spare sp;
    send_one(e, (uint8_t)s->input.port, &s->input.f, buf, &f, sbuf, &sp);

    CHECK(f.drop_reason == s->drop);
    if (f.drop_reason != s->drop)
        fprintf(stderr, "    drop_reason %d (%s), expected %d\n", f.drop_reason,
                f.drop_reason >= 0 ? vsw_drop_reason_name(f.drop_reason) : "forwarded", s->drop);
    CHECK((f.ports & f.copy_ports) == 0);
    CHECK(f.unsent_ports == s->unsent);
    CHECK(f.offset + f.len <= f.capacity);
    if (f.copy_ports) CHECK(f.copy_spare == 0);
    else CHECK(f.copy_spare == -1);

    for (int p = 0; p < VSW_MAX_PORTS; p++) {
        uint64_t bit = 1ULL << p;
        const uint8_t *got = NULL;
        size_t got_len = 0;
        if (f.ports & bit) {
            got = f.buf + f.offset;
            got_len = f.len;
        } else if (f.copy_ports & bit) {
            got = sp.buf + sp.offset;
            got_len = sp.len;
        }
        const fspec *want_spec = NULL;
        for (int k = 0; k < s->n_expect; k++)
            if (s->expect[k].port == p) want_spec = &s->expect[k].f;
        if (!want_spec) {
            CHECK(got == NULL);
            if (got) fprintf(stderr, "    port %d transmits but should not\n", p);
            continue;
        }
        static uint8_t want[4096];
        size_t want_len = build(want, want_spec);
        int same = got && got_len == want_len && memcmp(got, want, want_len) == 0;
        CHECK(same);
        if (!same) {
            fprintf(stderr, "    port %d output differs\n", p);
            if (got) dump("got", got, got_len);
            else fprintf(stderr, "    got nothing\n");
            dump("want", want, want_len);
        }
    }
    if (s->event >= 0) {
        CHECK_RC(vsw_event_count(e, s->event, &event_after), VSW_OK);
        CHECK(event_after == event_before + 1);
    }
    if (s->drop >= 0) {
        CHECK_RC(vsw_drop_count(e, s->drop, &drops_after), VSW_OK);
        CHECK(drops_after == drops_before + 1);
        CHECK(f.ports == 0 && f.copy_ports == 0 && f.unsent_ports == 0);
    }
    vsw_engine_free(e);
}

/* ----- NULL and invalid arguments, for every function ----- */

static void test_library_info(void) {
    CHECK(vsw_abi_version() == VSW_ABI_VERSION);
    CHECK(vsw_version() != NULL && strlen(vsw_version()) > 0);
    const int32_t codes[] = {VSW_OK, VSW_EINVAL, VSW_ENOENT, VSW_EEXIST,
                             VSW_ENOSPC, VSW_EAGAIN, VSW_EPANIC};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK(vsw_strerror(codes[i]) != NULL);
        CHECK(strcmp(vsw_strerror(codes[i]), "unknown error code") != 0);
    }
    CHECK(strcmp(vsw_strerror(-1000), "unknown error code") == 0);
    CHECK(strcmp(vsw_strerror(1), "unknown error code") == 0);
    for (int32_t r = 0; r < VSW_DROP_COUNT; r++) CHECK(vsw_drop_reason_name(r) != NULL);
    CHECK(strcmp(vsw_drop_reason_name(VSW_DROP_RUNT), "runt") == 0);
    CHECK(strcmp(vsw_drop_reason_name(VSW_DROP_NO_SPARE_FRAME), "no_spare_frame") == 0);
    CHECK(vsw_drop_reason_name(-1) == NULL);
    CHECK(vsw_drop_reason_name(VSW_DROP_COUNT) == NULL);
    for (int32_t v = 0; v < VSW_EVENT_COUNT; v++) CHECK(vsw_event_name(v) != NULL);
    CHECK(strcmp(vsw_event_name(VSW_EVENT_EGRESS_COPIES), "egress_copies") == 0);
    CHECK(vsw_event_name(-1) == NULL);
    CHECK(vsw_event_name(VSW_EVENT_COUNT) == NULL);
}

static void test_engine_new_free_invalid(void) {
    vsw_engine *e = (vsw_engine *)&e; /* must be reset to NULL on error */
    CHECK_RC(vsw_engine_new(4096, 300, NULL), VSW_EINVAL);
    CHECK_RC(vsw_engine_new(VSW_FDB_CAPACITY_MIN - 1, 300, &e), VSW_EINVAL);
    CHECK(e == NULL);
    CHECK_RC(vsw_engine_new(VSW_FDB_CAPACITY_MAX + 1, 300, &e), VSW_EINVAL);
    CHECK_RC(vsw_engine_new(0, 300, &e), VSW_EINVAL);
    CHECK_RC(vsw_engine_new((size_t)-1, 300, &e), VSW_EINVAL);
    CHECK_RC(vsw_engine_new(4096, VSW_AGING_MAX + 1, &e), VSW_EINVAL);
    CHECK(e == NULL);
    CHECK_RC(vsw_engine_new(VSW_FDB_CAPACITY_MIN, VSW_AGING_MAX, &e), VSW_OK);
    CHECK(e != NULL);
    vsw_engine_free(e);
    vsw_engine_free(NULL); /* a no-op */

    CHECK_RC(vsw_set_aging(NULL, 10), VSW_EINVAL);
    CHECK_RC(vsw_engine_new(4096, 0, &e), VSW_OK);
    CHECK_RC(vsw_set_aging(e, VSW_AGING_MAX + 1), VSW_EINVAL);
    CHECK_RC(vsw_set_aging(e, VSW_AGING_MAX), VSW_OK);
    CHECK_RC(vsw_set_aging(e, 0), VSW_OK);
    vsw_engine_free(e);
}

static void test_port_config_invalid(void) {
    vsw_port_config c, before;
    CHECK_RC(vsw_port_config_init(NULL, VSW_MODE_ACCESS, 10), VSW_EINVAL);
    memset(&c, 0xab, sizeof c);
    before = c;
    CHECK_RC(vsw_port_config_init(&c, 0, 10), VSW_EINVAL);
    CHECK_RC(vsw_port_config_init(&c, 4, 10), VSW_EINVAL);
    CHECK_RC(vsw_port_config_init(&c, VSW_MODE_ACCESS, 0), VSW_EINVAL);
    CHECK_RC(vsw_port_config_init(&c, VSW_MODE_ACCESS, 4095), VSW_EINVAL);
    CHECK_RC(vsw_port_config_init(&c, VSW_MODE_TRUNK, 4095), VSW_EINVAL);
    CHECK_RC(vsw_port_config_init(&c, VSW_MODE_GUEST, 5000), VSW_EINVAL);
    CHECK(memcmp(&c, &before, sizeof c) == 0);
    CHECK_RC(vsw_port_config_init(&c, VSW_MODE_TRUNK, 0), VSW_OK);
    CHECK(c.mode == VSW_MODE_TRUNK && c.vlan == 0 && c.trunk_vlans == NULL);
    CHECK(c.learning == 1 && c.flood_unknown_unicast == 1 && c.promiscuous == 0);
    CHECK(c.max_frame_len == 0);

    vsw_engine *e = NULL;
    CHECK_RC(vsw_engine_new(4096, 300, &e), VSW_OK);
    vsw_port_config ok;
    CHECK_RC(vsw_port_config_init(&ok, VSW_MODE_ACCESS, 10), VSW_OK);

    /* NULL engine / config, port out of range */
    CHECK_RC(vsw_port_add(NULL, 0, &ok), VSW_EINVAL);
    CHECK_RC(vsw_port_add(e, 0, NULL), VSW_EINVAL);
    CHECK_RC(vsw_port_add(e, VSW_MAX_PORTS, &ok), VSW_EINVAL);
    CHECK_RC(vsw_port_add(e, 255, &ok), VSW_EINVAL);
    CHECK_RC(vsw_port_set(NULL, 0, &ok), VSW_EINVAL);
    CHECK_RC(vsw_port_set(e, 0, NULL), VSW_EINVAL);
    CHECK_RC(vsw_port_set(e, VSW_MAX_PORTS, &ok), VSW_EINVAL);
    CHECK_RC(vsw_port_remove(NULL, 0), VSW_EINVAL);
    CHECK_RC(vsw_port_remove(e, VSW_MAX_PORTS), VSW_EINVAL);

    /* invalid configurations */
    struct {
        const char *what;
        int32_t mode;
        uint16_t vlan;
        const char *trunk;
        uint8_t learning, flood, promisc;
        uint32_t max;
    } bad[] = {
        {"mode 0", 0, 10, NULL, 1, 1, 0, 0},
        {"mode 99", 99, 10, NULL, 1, 1, 0, 0},
        {"mode -1", -1, 10, NULL, 1, 1, 0, 0},
        {"access without vlan", VSW_MODE_ACCESS, 0, NULL, 1, 1, 0, 0},
        {"access vlan 4095", VSW_MODE_ACCESS, 4095, NULL, 1, 1, 0, 0},
        {"access with trunk list", VSW_MODE_ACCESS, 10, "10", 1, 1, 0, 0},
        {"guest with trunk list", VSW_MODE_GUEST, 0, "10", 1, 1, 0, 0},
        {"trunk native 4095", VSW_MODE_TRUNK, 4095, NULL, 1, 1, 0, 0},
        {"trunk list with 0", VSW_MODE_TRUNK, 0, "0,10", 1, 1, 0, 0},
        {"trunk list with 4095", VSW_MODE_TRUNK, 0, "10,4095", 1, 1, 0, 0},
        {"trunk list backwards", VSW_MODE_TRUNK, 0, "20-10", 1, 1, 0, 0},
        {"trunk list garbage", VSW_MODE_TRUNK, 0, "ten", 1, 1, 0, 0},
        {"trunk list empty item", VSW_MODE_TRUNK, 0, "10,,20", 1, 1, 0, 0},
        {"trunk list not UTF-8", VSW_MODE_TRUNK, 0, "1\xff", 1, 1, 0, 0},
        {"learning 2", VSW_MODE_ACCESS, 10, NULL, 2, 1, 0, 0},
        {"flood 7", VSW_MODE_ACCESS, 10, NULL, 1, 7, 0, 0},
        {"promiscuous 255", VSW_MODE_ACCESS, 10, NULL, 1, 1, 255, 0},
        {"max_frame_len too small", VSW_MODE_ACCESS, 10, NULL, 1, 1, 0, VSW_MIN_FRAME_LEN - 1},
        {"max_frame_len too large", VSW_MODE_ACCESS, 10, NULL, 1, 1, 0, VSW_MAX_FRAME_LEN + 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vsw_port_config b = {bad[i].mode, bad[i].vlan, bad[i].trunk, bad[i].learning,
                             bad[i].flood, bad[i].promisc, bad[i].max};
        int32_t rc = vsw_port_add(e, 0, &b);
        CHECK(rc == VSW_EINVAL);
        if (rc != VSW_EINVAL) fprintf(stderr, "    accepted: %s\n", bad[i].what);
    }
    /* none of them was added */
    CHECK_RC(vsw_port_set(e, 0, &ok), VSW_ENOENT);
    CHECK_RC(vsw_port_remove(e, 0), VSW_ENOENT);

    /* valid edge cases */
    vsw_port_config t;
    CHECK_RC(vsw_port_config_init(&t, VSW_MODE_TRUNK, 4094), VSW_OK);
    t.trunk_vlans = " 1, 100-199 ,4094";
    t.max_frame_len = VSW_MIN_FRAME_LEN;
    CHECK_RC(vsw_port_add(e, 63, &t), VSW_OK);
    t.trunk_vlans = "";
    CHECK_RC(vsw_port_set(e, 63, &t), VSW_OK);
    CHECK_RC(vsw_port_add(e, 63, &t), VSW_EEXIST);
    CHECK_RC(vsw_port_add(e, 0, &ok), VSW_OK);
    CHECK_RC(vsw_port_add(e, 0, &ok), VSW_EEXIST);
    /* a bad config never changes an existing port */
    vsw_port_config b = ok;
    b.learning = 3;
    CHECK_RC(vsw_port_set(e, 0, &b), VSW_EINVAL);
    CHECK_RC(vsw_port_remove(e, 0), VSW_OK);
    CHECK_RC(vsw_port_remove(e, 0), VSW_ENOENT);
    CHECK_RC(vsw_port_remove(e, 63), VSW_OK);
    vsw_engine_free(e);
}

static void test_process_invalid(void) {
    vsw_engine *e = lab(NULL);
    uint8_t buf[256] = {0}, buf2[256] = {0}, sbuf[256] = {0};
    fspec spec = UNTAGGED(BCAST, MAC_A);
    size_t len = build(buf + 64, &spec);
    uint8_t pristine[256];
    memcpy(pristine, buf, sizeof buf);
    vsw_frame f = {buf, sizeof buf, 64, len, 0, 0, 0, 0, 0};
    vsw_spare sp = {sbuf, sizeof sbuf, 16, 0};
    size_t used = 77;

    CHECK_RC(vsw_process(NULL, 0, 0, &f, 1, &sp, 1, &used), VSW_EINVAL);
    CHECK_RC(vsw_process(e, VSW_MAX_PORTS, 0, &f, 1, &sp, 1, &used), VSW_EINVAL);
    CHECK_RC(vsw_process(e, 255, 0, &f, 1, &sp, 1, &used), VSW_EINVAL);
    CHECK_RC(vsw_process(e, 0, 0, NULL, 1, &sp, 1, &used), VSW_EINVAL);
    CHECK_RC(vsw_process(e, 0, 0, &f, 1, NULL, 1, &used), VSW_EINVAL);
    CHECK_RC(vsw_process(e, 0, 0, &f, VSW_BATCH_MAX + 1, &sp, 1, &used), VSW_EINVAL);

    vsw_frame g = f;
    g.buf = NULL;
    CHECK_RC(vsw_process(e, 0, 0, &g, 1, NULL, 0, NULL), VSW_EINVAL);
    g = f;
    g.len = sizeof buf - 64 + 1; /* window past the capacity */
    CHECK_RC(vsw_process(e, 0, 0, &g, 1, NULL, 0, NULL), VSW_EINVAL);
    g = f;
    g.offset = (size_t)-1; /* offset + len overflows */
    CHECK_RC(vsw_process(e, 0, 0, &g, 1, NULL, 0, NULL), VSW_EINVAL);
    g = f;
    g.capacity = (size_t)-1;
    CHECK_RC(vsw_process(e, 0, 0, &g, 1, NULL, 0, NULL), VSW_EINVAL);

    vsw_spare bad_sp = sp;
    bad_sp.buf = NULL;
    CHECK_RC(vsw_process(e, 0, 0, &f, 1, &bad_sp, 1, NULL), VSW_EINVAL);
    bad_sp = sp;
    bad_sp.offset = sizeof sbuf + 1;
    CHECK_RC(vsw_process(e, 0, 0, &f, 1, &bad_sp, 1, NULL), VSW_EINVAL);

    /* overlapping buffers: two frames in one buffer, a spare inside a frame,
     * a frame inside the descriptor array */
    vsw_frame two[2] = {f, f};
    two[1].buf = buf + 8;
    two[1].capacity = 32;
    two[1].offset = 0;
    two[1].len = 20;
    CHECK_RC(vsw_process(e, 0, 0, two, 2, NULL, 0, NULL), VSW_EINVAL);
    vsw_spare inside = {buf + 200, 50, 0, 0};
    CHECK_RC(vsw_process(e, 0, 0, &f, 1, &inside, 1, NULL), VSW_EINVAL);
    vsw_frame self[2] = {f, f};
    self[1].buf = (uint8_t *)&self[0];
    self[1].capacity = sizeof self[0];
    self[1].offset = 0;
    self[1].len = 0;
    CHECK_RC(vsw_process(e, 0, 0, self, 2, NULL, 0, NULL), VSW_EINVAL);

    /* nothing was touched by any refused call */
    CHECK(memcmp(buf, pristine, sizeof buf) == 0);
    CHECK(used == 77);
    CHECK(f.offset == 64 && f.len == len);
    vsw_port_stats pc;
    CHECK_RC(vsw_port_counters(e, 0, &pc), VSW_OK);
    CHECK(pc.rx_packets == 0);

    /* edge cases that are fine */
    CHECK_RC(vsw_process(e, 0, 0, NULL, 0, NULL, 0, NULL), VSW_OK);
    CHECK_RC(vsw_process(e, 0, 0, &f, 0, &sp, 1, &used), VSW_OK);
    CHECK(used == 0);
    /* two frames side by side in one buffer are fine: no overlap */
    memcpy(buf2, buf, sizeof buf2);
    vsw_frame adj[2] = {{buf2, 128, 64, 60, 0, 0, 0, 0, 0}, {buf2 + 128, 128, 4, 60, 0, 0, 0, 0, 0}};
    memcpy(buf2 + 128 + 4, buf + 64, 60);
    CHECK_RC(vsw_process(e, 0, 0, adj, 2, NULL, 0, NULL), VSW_OK);
    /* an unknown ingress port is a drop, not an error */
    vsw_engine *empty = NULL;
    CHECK_RC(vsw_engine_new(4096, 300, &empty), VSW_OK);
    f.offset = 64;
    f.len = len;
    CHECK_RC(vsw_process(empty, 7, 0, &f, 1, NULL, 0, NULL), VSW_OK);
    CHECK(f.drop_reason == VSW_DROP_PORT_UNKNOWN);
    vsw_engine_free(empty);
    vsw_engine_free(e);
}

static void test_fdb_invalid(void) {
    vsw_engine *e = lab(NULL);
    uint8_t a[6], mc[6], zero[6] = {0};
    mac_bytes(MAC_A, a);
    mac_bytes(MCAST, mc);
    vsw_fdb_entry ent;
    size_t n = 0;

    CHECK_RC(vsw_fdb_add(NULL, a, 10, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_add(e, NULL, 10, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_add(e, a, 0, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_add(e, a, 4095, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_add(e, a, 10, VSW_MAX_PORTS), VSW_EINVAL);
    CHECK_RC(vsw_fdb_add(e, mc, 10, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_add(e, zero, 10, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_add(e, a, 20, 0), VSW_EINVAL); /* p0 does not carry VLAN 20 */
    CHECK_RC(vsw_fdb_add(e, a, 10, 9), VSW_ENOENT); /* no port 9 */

    CHECK_RC(vsw_fdb_del(NULL, a, 10, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_del(e, NULL, 10, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_del(e, a, 0, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_del(e, a, 4095, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_del(e, a, 10, 0), VSW_ENOENT);

    CHECK_RC(vsw_fdb_get(NULL, a, 10, 0, &ent), VSW_EINVAL);
    CHECK_RC(vsw_fdb_get(e, NULL, 10, 0, &ent), VSW_EINVAL);
    CHECK_RC(vsw_fdb_get(e, a, 10, 0, NULL), VSW_EINVAL);
    CHECK_RC(vsw_fdb_get(e, a, 0, 0, &ent), VSW_EINVAL);
    CHECK_RC(vsw_fdb_get(e, a, 10, 0, &ent), VSW_ENOENT);

    CHECK_RC(vsw_fdb_flush(NULL, VSW_FLUSH_ALL, 0, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_flush(e, 3, 0, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_flush(e, -1, 0, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_ALL, 1, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_PORT, VSW_MAX_PORTS, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_PORT, 300, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_VLAN, 0, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_VLAN, 4095, 0), VSW_EINVAL);
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_ALL, 0, 2), VSW_EINVAL);

    CHECK_RC(vsw_fdb_entries(NULL, 0, &ent, 1, &n), VSW_EINVAL);
    CHECK_RC(vsw_fdb_entries(e, 0, &ent, 1, NULL), VSW_EINVAL);
    CHECK_RC(vsw_fdb_entries(e, 0, NULL, 1, &n), VSW_EINVAL);
    CHECK_RC(vsw_fdb_entries(e, 0, NULL, 0, &n), VSW_OK);
    CHECK(n == 0);

    vsw_sweep_report rep;
    CHECK_RC(vsw_age_sweep(NULL, 0, &rep), VSW_EINVAL);
    CHECK_RC(vsw_age_sweep(NULL, 0, NULL), VSW_EINVAL);
    CHECK_RC(vsw_age_sweep(e, 0, NULL), VSW_OK);
    vsw_engine_free(e);
}

static void test_counters_invalid(void) {
    vsw_engine *e = lab(NULL);
    vsw_port_stats pc;
    uint64_t v;
    CHECK_RC(vsw_port_counters(NULL, 0, &pc), VSW_EINVAL);
    CHECK_RC(vsw_port_counters(e, VSW_MAX_PORTS, &pc), VSW_EINVAL);
    CHECK_RC(vsw_port_counters(e, 0, NULL), VSW_EINVAL);
    CHECK_RC(vsw_port_counters(e, 63, &pc), VSW_OK); /* never added: zeros */
    CHECK(pc.rx_packets == 0 && pc.tx_packets == 0);
    CHECK_RC(vsw_drop_count(NULL, VSW_DROP_RUNT, &v), VSW_EINVAL);
    CHECK_RC(vsw_drop_count(e, -1, &v), VSW_EINVAL);
    CHECK_RC(vsw_drop_count(e, VSW_DROP_COUNT, &v), VSW_EINVAL);
    CHECK_RC(vsw_drop_count(e, VSW_DROP_RUNT, NULL), VSW_EINVAL);
    CHECK_RC(vsw_event_count(NULL, VSW_EVENT_FLOOD, &v), VSW_EINVAL);
    CHECK_RC(vsw_event_count(e, -1, &v), VSW_EINVAL);
    CHECK_RC(vsw_event_count(e, VSW_EVENT_COUNT, &v), VSW_EINVAL);
    CHECK_RC(vsw_event_count(e, VSW_EVENT_FLOOD, NULL), VSW_EINVAL);
    for (int32_t r = 0; r < VSW_DROP_COUNT; r++) {
        CHECK_RC(vsw_drop_count(e, r, &v), VSW_OK);
        CHECK(v == 0);
    }
    for (int32_t ev = 0; ev < VSW_EVENT_COUNT; ev++) {
        CHECK_RC(vsw_event_count(e, ev, &v), VSW_OK);
        CHECK(v == 0);
    }
    vsw_engine_free(e);
}

/* ----- batches, spares, headroom ----- */

/* A batch from access p0: copies land in the spares in frame order and are
 * attributed to the right frames. */
static void test_batch_copies_are_attributed(void) {
    vsw_engine *e = lab(NULL);
    warm(e, 1, (fspec)UNTAGGED(BCAST, MAC_B)); /* B on p1 */
    enum { N = 5 };
    static uint8_t bufs[N][512], sbufs[N][512];
    const fspec in[N] = {
        UNTAGGED(BCAST, MAC_A),          /* flood: p1 untagged, 3-5 tagged (copy) */
        TAGGED(BCAST, MAC_A, 0, 10),     /* tagged on access: dropped */
        UNTAGGED(MAC_B, MAC_A),          /* known unicast to p1: no copy */
        UNTAGGED(MCAST, 0x020000000099), /* flood with copy */
        {BCAST, MAC_A, 1, 3, 0, 0, 46, 0, 0}, /* priority tag: pop + copy tagged */
    };
    vsw_frame f[N];
    vsw_spare sp[N];
    for (int i = 0; i < N; i++) {
        size_t len = build(bufs[i] + 64, &in[i]);
        f[i] = (vsw_frame){bufs[i], sizeof bufs[i], 64, len, 0, 0, 0, 0, 0};
        sp[i] = (vsw_spare){sbufs[i], sizeof sbufs[i], 32, 0};
    }
    size_t used = 0;
    CHECK_RC(vsw_process(e, 0, 1, f, N, sp, N, &used), VSW_OK);
    CHECK(used == 3);
    const uint64_t trunks = (1u << 3) | (1u << 4) | (1u << 5);
    CHECK(f[0].drop_reason == VSW_FORWARDED && f[0].ports == (1u << 1));
    CHECK(f[0].copy_ports == trunks && f[0].copy_spare == 0);
    CHECK(f[1].drop_reason == VSW_DROP_TAGGED_ON_ACCESS && f[1].copy_spare == -1);
    CHECK(f[2].drop_reason == VSW_FORWARDED && f[2].ports == (1u << 1));
    CHECK(f[2].copy_ports == 0 && f[2].copy_spare == -1);
    CHECK(f[3].ports == (1u << 1) && f[3].copy_ports == trunks && f[3].copy_spare == 1);
    /* priority-tagged in: the tagged encoding is kept in place (PCP 3, VID
     * 10) and the untagged one is the copy */
    CHECK(f[4].ports == trunks && f[4].copy_ports == (1u << 1) && f[4].copy_spare == 2);
    for (int i = 0; i < N; i++) CHECK(f[i].unsent_ports == 0);

    uint8_t want[512];
    fspec s0 = TAGGED(BCAST, MAC_A, 0, 10);
    size_t wl = build(want, &s0);
    CHECK(sp[0].len == wl && memcmp(sp[0].buf + sp[0].offset, want, wl) == 0);
    fspec s3 = TAGGED(MCAST, 0x020000000099, 0, 10);
    wl = build(want, &s3);
    CHECK(sp[1].len == wl && memcmp(sp[1].buf + sp[1].offset, want, wl) == 0);
    fspec m4 = TAGGED(BCAST, MAC_A, 3, 10);
    wl = build(want, &m4);
    CHECK(f[4].len == wl && memcmp(f[4].buf + f[4].offset, want, wl) == 0);
    fspec s4 = UNTAGGED(BCAST, MAC_A);
    wl = build(want, &s4);
    CHECK(sp[2].len == wl && memcmp(sp[2].buf + sp[2].offset, want, wl) == 0);
    /* frame 0 stayed untagged, in place */
    wl = build(want, &in[0]);
    CHECK(f[0].offset == 64 && f[0].len == wl && memcmp(bufs[0] + 64, want, wl) == 0);
    vsw_engine_free(e);
}

/* Without enough spares the copy's ports are reported unsent and counted. */
static void test_spares_run_out(void) {
    vsw_engine *e = lab(NULL);
    static uint8_t b0[256], b1[256], s0[256];
    fspec in = UNTAGGED(BCAST, MAC_A);
    vsw_frame f[2];
    f[0] = (vsw_frame){b0, sizeof b0, 64, build(b0 + 64, &in), 0, 0, 0, 0, 0};
    f[1] = (vsw_frame){b1, sizeof b1, 64, build(b1 + 64, &in), 0, 0, 0, 0, 0};
    vsw_spare sp = {s0, sizeof s0, 0, 0};
    size_t used = 0;
    CHECK_RC(vsw_process(e, 0, 0, f, 2, &sp, 1, &used), VSW_OK);
    const uint64_t trunks = (1u << 3) | (1u << 4) | (1u << 5);
    CHECK(used == 1);
    CHECK(f[0].copy_spare == 0 && f[0].copy_ports == trunks && f[0].unsent_ports == 0);
    CHECK(f[1].copy_spare == -1 && f[1].copy_ports == 0 && f[1].unsent_ports == trunks);
    CHECK(f[1].ports == (1u << 1) && f[1].drop_reason == VSW_FORWARDED);
    uint64_t v = 0;
    CHECK_RC(vsw_drop_count(e, VSW_DROP_NO_SPARE_FRAME, &v), VSW_OK);
    CHECK(v == 3);
    vsw_port_stats pc;
    CHECK_RC(vsw_port_counters(e, 3, &pc), VSW_OK);
    CHECK(pc.tx_packets == 1 && pc.tx_dropped == 1);
    /* no spares at all */
    f[0].offset = 64;
    f[0].len = build(b0 + 64, &in);
    CHECK_RC(vsw_process(e, 0, 0, f, 1, NULL, 0, NULL), VSW_OK);
    CHECK(f[0].ports == (1u << 1) && f[0].unsent_ports == trunks && f[0].copy_spare == -1);
    vsw_engine_free(e);
}

/* A frame at offset 0 is moved to make headroom, then tagged in place. */
static void test_headroom_is_made_when_missing(void) {
    vsw_engine *e = lab(NULL);
    warm(e, 3, (fspec)TAGGED(BCAST, MAC_B, 0, 10)); /* B on trunk p3 */
    uint8_t buf[128], want[128];
    fspec in = UNTAGGED(MAC_B, MAC_A), out = TAGGED(MAC_B, MAC_A, 0, 10);
    size_t len = build(buf, &in);
    vsw_frame f = {buf, sizeof buf, 0, len, 0, 0, 0, 0, 0};
    CHECK_RC(vsw_process(e, 0, 0, &f, 1, NULL, 0, NULL), VSW_OK);
    size_t wl = build(want, &out);
    CHECK(f.drop_reason == VSW_FORWARDED && f.ports == (1u << 3) && f.unsent_ports == 0);
    CHECK(f.offset == 0 && f.len == wl && memcmp(buf, want, wl) == 0);

    /* no room at all (capacity == len): the tagged frame goes into a spare */
    uint8_t tight[64], sbuf[128];
    len = build(tight, &in);
    CHECK(len == 60);
    vsw_frame g = {tight, len, 0, len, 0, 0, 0, 0, 0};
    vsw_spare sp = {sbuf, sizeof sbuf, 8, 0};
    size_t used = 0;
    CHECK_RC(vsw_process(e, 0, 0, &g, 1, &sp, 1, &used), VSW_OK);
    CHECK(used == 1 && g.ports == 0 && g.copy_ports == (1u << 3) && g.copy_spare == 0);
    CHECK(sp.len == wl && memcmp(sbuf + 8, want, wl) == 0);
    vsw_engine_free(e);
}

/* Frames too large for some port are switched alone, mid-batch, and the
 * batch around them still comes out right. */
static void test_large_frames_mid_batch(void) {
    vsw_engine *e = lab(p3_max_1518);
    enum { N = 3 };
    static uint8_t bufs[N][2048], sbufs[N][2048];
    const fspec in[N] = {UNTAGGED(BCAST, MAC_A), BIG(0, 0), UNTAGGED(MCAST, MAC_A)};
    vsw_frame f[N];
    vsw_spare sp[N];
    for (int i = 0; i < N; i++) {
        f[i] = (vsw_frame){bufs[i], sizeof bufs[i], 128, build(bufs[i] + 128, &in[i]), 0, 0, 0, 0, 0};
        sp[i] = (vsw_spare){sbufs[i], sizeof sbufs[i], 128, 0};
    }
    size_t used = 0;
    CHECK_RC(vsw_process(e, 0, 0, f, N, sp, N, &used), VSW_OK);
    const uint64_t trunks = (1u << 3) | (1u << 4) | (1u << 5);
    CHECK(used == 3);
    CHECK(f[0].copy_spare == 0 && f[0].copy_ports == trunks);
    CHECK(f[1].copy_spare == 1 && f[1].copy_ports == ((1u << 4) | (1u << 5)));
    CHECK(f[1].unsent_ports == (1u << 3) && f[1].ports == (1u << 1));
    CHECK(f[2].copy_spare == 2 && f[2].copy_ports == trunks);
    uint8_t want[2048];
    fspec big_tagged = BIG(1, 10);
    size_t wl = build(want, &big_tagged);
    CHECK(sp[1].len == wl && memcmp(sbufs[1] + 128, want, wl) == 0);
    vsw_engine_free(e);
}

/* ----- FDB ----- */

static void test_fdb_show_add_del_flush(void) {
    vsw_engine *e = lab(NULL);
    uint8_t a[6], b[6], c[6];
    mac_bytes(MAC_A, a);
    mac_bytes(MAC_B, b);
    mac_bytes(MAC_C, c);
    /* learned: A on p0 (VLAN 10), B on p2 (VLAN 20) at t=100 */
    uint8_t buf[256], sbuf[256];
    vsw_frame f;
    vsw_spare sp;
    fspec fa = UNTAGGED(BCAST, MAC_A), fb = UNTAGGED(BCAST, MAC_B);
    size_t len = build(buf + 64, &fa);
    f = (vsw_frame){buf, sizeof buf, 64, len, 0, 0, 0, 0, 0};
    sp = (vsw_spare){sbuf, sizeof sbuf, 0, 0};
    CHECK_RC(vsw_process(e, 0, 100, &f, 1, &sp, 1, NULL), VSW_OK);
    len = build(buf + 64, &fb);
    f = (vsw_frame){buf, sizeof buf, 64, len, 0, 0, 0, 0, 0};
    CHECK_RC(vsw_process(e, 2, 100, &f, 1, &sp, 1, NULL), VSW_OK);
    /* static: C on trunk p3 in VLAN 30 */
    CHECK_RC(vsw_fdb_add(e, c, 30, 3), VSW_OK);

    vsw_fdb_entry ent[8];
    size_t n = 0;
    CHECK_RC(vsw_fdb_entries(e, 105, ent, 8, &n), VSW_OK);
    CHECK(n == 3);
    /* sorted by VLAN, then MAC */
    CHECK(ent[0].vlan == 10 && memcmp(ent[0].mac, a, 6) == 0 && ent[0].port == 0);
    CHECK(ent[0].is_static == 0 && ent[0].age_secs == 5);
    CHECK(ent[1].vlan == 20 && memcmp(ent[1].mac, b, 6) == 0 && ent[1].port == 2);
    CHECK(ent[2].vlan == 30 && memcmp(ent[2].mac, c, 6) == 0 && ent[2].port == 3);
    CHECK(ent[2].is_static == 1 && ent[2].age_secs == 0);
    /* too small an array: the first cap entries, the total, ENOSPC */
    memset(ent, 0, sizeof ent);
    CHECK_RC(vsw_fdb_entries(e, 105, ent, 2, &n), VSW_ENOSPC);
    CHECK(n == 3 && ent[1].vlan == 20 && ent[2].vlan == 0);
    CHECK_RC(vsw_fdb_entries(e, 105, NULL, 0, &n), VSW_OK);
    CHECK(n == 3);

    vsw_fdb_entry one;
    CHECK_RC(vsw_fdb_get(e, a, 10, 100, &one), VSW_OK);
    CHECK(one.port == 0 && one.vlan == 10 && one.is_static == 0);
    CHECK_RC(vsw_fdb_get(e, a, 20, 100, &one), VSW_ENOENT);

    /* flush VLAN 20: B goes */
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_VLAN, 20, 0), VSW_OK);
    CHECK_RC(vsw_fdb_get(e, b, 20, 100, &one), VSW_ENOENT);
    /* flush port 3 without statics: C stays; with statics: C goes */
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_PORT, 3, 0), VSW_OK);
    CHECK_RC(vsw_fdb_get(e, c, 30, 100, &one), VSW_OK);
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_PORT, 3, 1), VSW_OK);
    CHECK_RC(vsw_fdb_get(e, c, 30, 100, &one), VSW_ENOENT);
    /* static entries replace learned ones, and delete works on either */
    CHECK_RC(vsw_fdb_add(e, a, 10, 1), VSW_OK);
    CHECK_RC(vsw_fdb_get(e, a, 10, 100, &one), VSW_OK);
    CHECK(one.port == 1 && one.is_static == 1);
    CHECK_RC(vsw_fdb_del(e, a, 10, 100), VSW_OK);
    CHECK_RC(vsw_fdb_del(e, a, 10, 100), VSW_ENOENT);
    /* flush all, statics included */
    CHECK_RC(vsw_fdb_add(e, b, 10, 4), VSW_OK);
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_ALL, 0, 0), VSW_OK);
    CHECK_RC(vsw_fdb_entries(e, 100, NULL, 0, &n), VSW_OK);
    CHECK(n == 1);
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_ALL, 0, 1), VSW_OK);
    CHECK_RC(vsw_fdb_entries(e, 100, NULL, 0, &n), VSW_OK);
    CHECK(n == 0);
    vsw_engine_free(e);
}

static void test_aging_and_sweep(void) {
    vsw_engine *e = lab(NULL);
    CHECK_RC(vsw_set_aging(e, 10), VSW_OK);
    uint8_t a[6];
    mac_bytes(MAC_A, a);
    uint8_t buf[256];
    fspec fa = UNTAGGED(BCAST, MAC_A);
    vsw_frame f = {buf, sizeof buf, 64, build(buf + 64, &fa), 0, 0, 0, 0, 0};
    CHECK_RC(vsw_process(e, 0, 1000, &f, 1, NULL, 0, NULL), VSW_OK);
    vsw_fdb_entry one;
    CHECK_RC(vsw_fdb_get(e, a, 10, 1010, &one), VSW_OK);
    CHECK(one.age_secs == 10);
    CHECK_RC(vsw_fdb_get(e, a, 10, 1011, &one), VSW_ENOENT); /* aged out */
    vsw_sweep_report r;
    memset(&r, 0xff, sizeof r);
    CHECK_RC(vsw_age_sweep(e, 1011, &r), VSW_OK);
    CHECK(r.aged == 1 && r.reclaimed == 1 && r.pending == 0);
    CHECK_RC(vsw_age_sweep(e, 1012, &r), VSW_OK);
    CHECK(r.aged == 0 && r.reclaimed == 0);
    vsw_engine_free(e);
}

static void test_fdb_full(void) {
    vsw_engine *e = NULL;
    CHECK_RC(vsw_engine_new(VSW_FDB_CAPACITY_MIN, 300, &e), VSW_OK);
    vsw_port_config c;
    CHECK_RC(vsw_port_config_init(&c, VSW_MODE_GUEST, 0), VSW_OK);
    CHECK_RC(vsw_port_add(e, 0, &c), VSW_OK);
    int added = 0, rc = VSW_OK;
    for (int i = 0; i < 64 && rc == VSW_OK; i++) {
        uint8_t m[6] = {0x02, 0, 0, 0, 1, (uint8_t)i};
        rc = vsw_fdb_add(e, m, 10, 0);
        if (rc == VSW_OK) added++;
    }
    CHECK(rc == VSW_ENOSPC);
    CHECK(added >= 1 && added <= VSW_FDB_CAPACITY_MIN);
    /* a flush makes room again at once */
    CHECK_RC(vsw_fdb_flush(e, VSW_FLUSH_ALL, 0, 1), VSW_OK);
    uint8_t m[6] = {0x02, 0, 0, 0, 1, 0};
    CHECK_RC(vsw_fdb_add(e, m, 10, 0), VSW_OK);
    vsw_engine_free(e);
}

/* ----- ports and counters ----- */

static void test_port_changes(void) {
    vsw_engine *e = lab(NULL);
    uint8_t a[6], c[6];
    mac_bytes(MAC_A, a);
    mac_bytes(MAC_C, c);
    warm(e, 0, (fspec)UNTAGGED(BCAST, MAC_A)); /* A learned on p0 */
    CHECK_RC(vsw_fdb_add(e, c, 10, 0), VSW_OK);
    vsw_fdb_entry one;
    /* flags only: learned entries stay */
    vsw_port_config cfg;
    CHECK_RC(vsw_port_config_init(&cfg, VSW_MODE_ACCESS, 10), VSW_OK);
    cfg.promiscuous = 1;
    CHECK_RC(vsw_port_set(e, 0, &cfg), VSW_OK);
    CHECK_RC(vsw_fdb_get(e, a, 10, 0, &one), VSW_OK);
    /* a VLAN change that would strand the static entry is refused, as the
     * daemon refuses it: nothing changes */
    CHECK_RC(vsw_port_config_init(&cfg, VSW_MODE_ACCESS, 20), VSW_OK);
    CHECK_RC(vsw_port_set(e, 0, &cfg), VSW_EINVAL);
    CHECK_RC(vsw_fdb_get(e, a, 10, 0, &one), VSW_OK);
    CHECK_RC(vsw_fdb_get(e, c, 10, 0, &one), VSW_OK);
    /* without it, the change goes through and learned entries of the port
     * go; a static entry in the new VLAN is kept */
    CHECK_RC(vsw_fdb_del(e, c, 10, 0), VSW_OK);
    vsw_port_config trunk;
    CHECK_RC(vsw_port_config_init(&trunk, VSW_MODE_TRUNK, 10), VSW_OK);
    trunk.trunk_vlans = "20";
    CHECK_RC(vsw_port_set(e, 0, &trunk), VSW_OK);
    CHECK_RC(vsw_fdb_add(e, c, 20, 0), VSW_OK);
    CHECK_RC(vsw_port_set(e, 0, &cfg), VSW_OK);
    CHECK_RC(vsw_fdb_get(e, a, 10, 0, &one), VSW_ENOENT);
    CHECK_RC(vsw_fdb_get(e, c, 20, 0, &one), VSW_OK);
    /* the new VLAN is in force: a broadcast from p0 now reaches VLAN 20 */
    uint8_t buf[256], sbuf[256];
    vsw_frame f;
    vsw_spare sp;
    fspec in = UNTAGGED(BCAST, MAC_A);
    send_one(e, 0, &in, buf, &f, sbuf, &sp);
    CHECK(f.ports == ((1u << 2) | (1u << 4)) && f.copy_ports == ((1u << 3) | (1u << 5)));
    /* removal: every entry of the port goes, and its frames are unknown */
    CHECK_RC(vsw_port_remove(e, 0), VSW_OK);
    CHECK_RC(vsw_fdb_get(e, c, 20, 0, &one), VSW_ENOENT);
    send_one(e, 0, &in, buf, &f, sbuf, &sp);
    CHECK(f.drop_reason == VSW_DROP_PORT_UNKNOWN);
    /* re-adding works */
    CHECK_RC(vsw_port_add(e, 0, &cfg), VSW_OK);
    vsw_engine_free(e);
}

static void test_counters(void) {
    vsw_engine *e = lab(NULL);
    uint8_t buf[256], sbuf[256];
    vsw_frame f;
    vsw_spare sp;
    fspec in = UNTAGGED(BCAST, MAC_A);
    send_one(e, 0, &in, buf, &f, sbuf, &sp); /* 60 bytes; 64 tagged */
    fspec bad = TAGGED(BCAST, MAC_A, 0, 10);
    send_one(e, 0, &bad, buf, &f, sbuf, &sp); /* dropped */
    vsw_port_stats pc;
    CHECK_RC(vsw_port_counters(e, 0, &pc), VSW_OK);
    CHECK(pc.rx_packets == 2 && pc.rx_bytes == 60 + 64 && pc.rx_dropped == 1);
    CHECK(pc.tx_packets == 0);
    CHECK_RC(vsw_port_counters(e, 1, &pc), VSW_OK);
    CHECK(pc.tx_packets == 1 && pc.tx_bytes == 60 && pc.rx_packets == 0);
    CHECK_RC(vsw_port_counters(e, 5, &pc), VSW_OK);
    CHECK(pc.tx_packets == 1 && pc.tx_bytes == 64);
    uint64_t v;
    CHECK_RC(vsw_drop_count(e, VSW_DROP_TAGGED_ON_ACCESS, &v), VSW_OK);
    CHECK(v == 1);
    CHECK_RC(vsw_event_count(e, VSW_EVENT_FLOOD, &v), VSW_OK);
    CHECK(v == 1);
    CHECK_RC(vsw_event_count(e, VSW_EVENT_EGRESS_COPIES, &v), VSW_OK);
    CHECK(v == 1);
    CHECK_RC(vsw_event_count(e, VSW_EVENT_FDB_LEARNED, &v), VSW_OK);
    CHECK(v == 1);
    vsw_engine_free(e);
}

static void test_engines_are_independent(void) {
    vsw_engine *e1 = lab(NULL), *e2 = lab(NULL);
    warm(e1, 0, (fspec)UNTAGGED(BCAST, MAC_A));
    size_t n1 = 0, n2 = 0;
    CHECK_RC(vsw_fdb_entries(e1, 0, NULL, 0, &n1), VSW_OK);
    CHECK_RC(vsw_fdb_entries(e2, 0, NULL, 0, &n2), VSW_OK);
    CHECK(n1 == 1 && n2 == 0);
    vsw_port_stats pc;
    CHECK_RC(vsw_port_counters(e2, 0, &pc), VSW_OK);
    CHECK(pc.rx_packets == 0);
    vsw_engine_free(e1);
    vsw_engine_free(e2);
}

int main(void) {
    printf("libvswitch %s (ABI %u)\n", vsw_version(), vsw_abi_version());
    if (vsw_abi_version() != VSW_ABI_VERSION) {
        fprintf(stderr, "library ABI %u, header ABI %u\n", vsw_abi_version(), VSW_ABI_VERSION);
        return 1;
    }
    RUN(test_library_info);
    RUN(test_engine_new_free_invalid);
    RUN(test_port_config_invalid);
    RUN(test_process_invalid);
    RUN(test_fdb_invalid);
    RUN(test_counters_invalid);
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        static char name[160];
        snprintf(name, sizeof name, "scenario: %s", scenarios[i].name);
        the_scenario = &scenarios[i];
        run_test(name, run_scenario);
    }
    RUN(test_batch_copies_are_attributed);
    RUN(test_spares_run_out);
    RUN(test_headroom_is_made_when_missing);
    RUN(test_large_frames_mid_batch);
    RUN(test_fdb_show_add_del_flush);
    RUN(test_aging_and_sweep);
    RUN(test_fdb_full);
    RUN(test_port_changes);
    RUN(test_counters);
    RUN(test_engines_are_independent);
    printf("%d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed == 0 ? 0 : 1;
}
