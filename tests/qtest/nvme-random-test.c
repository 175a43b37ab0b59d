/*
 * QTest testcase: seeded random sequences of NVMe commands against a model
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 * See the COPYING file in the top-level directory.
 *
 * Two controllers of one subsystem share a namespace store.  Random but
 * structured steps (Namespace Management, Attachment, Format, I/O, zone
 * management, Flush, controller reset and shutdown, a delete racing a
 * multi-step command, graceful restarts, restarts without shutdown and
 * SIGKILLs) run against a model; after every step and every restart:
 *   - QEMU starts: a store made by legal commands always loads;
 *   - UNVMCAP = TNVMCAP - the sum of the namespaces' sizes;
 *   - the allocated list and each controller's active list are as modelled;
 *   - data written reads back (a QEMU crash loses no completed write);
 *   - no zone is open after a restart, write pointers are where they were.
 *
 * QNVME_SEED=S picks the sequence (the test prints the seed it used),
 * QNVME_STEPS=N its length, QNVME_SECONDS=T runs sequences until T seconds
 * have passed (make fuzz).
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "libqos/nvme-admin.h"

#define SLOT0 4
#define NCTRL 2
#define POOL (16 * MiB)
#define ZONE (64 * KiB)
#define MAX_NS 6
#define NVME_ZONE_ACTION_RESET 0x4
#define NVME_ZONE_SELECT_ALL (1 << 8)

typedef struct ModelNs {
    uint32_t nsid;          /* 0: free slot */
    bool zoned;
    uint8_t lbaf;           /* 0 (512), 1 (512 + 8, extended), 4 (4 KiB) */
    uint64_t nsze;
    uint64_t size;          /* bytes of capacity it takes */
    bool attached[NCTRL];
    GHashTable *data;       /* LBA -> fill byte of what was written there */
    uint64_t *wp;           /* zoned: write pointer of each zone */
} ModelNs;

typedef struct Fuzz {
    GRand *rand;
    char *dir;
    QNvmeMachine *m;
    QNvmeCtrl *c[NCTRL];
    ModelNs ns[MAX_NS];
    int steps, restarts, kills, races, refused;
} Fuzz;

static uint32_t blksz(const ModelNs *ns)
{
    return ns->lbaf == 4 ? 4096 : 512;
}

static uint32_t xfer(const ModelNs *ns)
{
    return ns->lbaf == 1 ? 520 : blksz(ns);
}

static uint64_t zone_blocks(const ModelNs *ns)
{
    return ZONE / blksz(ns);
}

static void fuzz_open(Fuzz *f)
{
    for (int i = 0; i < NCTRL; i++) {
        f->c[i] = qnvme_ctrl_open(f->m, SLOT0 + i);
    }
}

static void fuzz_close(Fuzz *f)
{
    for (int i = 0; i < NCTRL; i++) {
        qnvme_ctrl_close(f->c[i]);
        f->c[i] = NULL;
    }
}

static void model_clear_data(ModelNs *ns)
{
    g_hash_table_remove_all(ns->data);
    if (ns->zoned) {
        for (uint64_t z = 0; z < ns->nsze / zone_blocks(ns); z++) {
            ns->wp[z] = z * zone_blocks(ns);
        }
    }
}

static void model_free(ModelNs *ns)
{
    if (ns->data) {
        g_hash_table_destroy(ns->data);
    }
    g_free(ns->wp);
    memset(ns, 0, sizeof(*ns));
}

static ModelNs *model_find(Fuzz *f, uint32_t nsid)
{
    for (int i = 0; i < MAX_NS; i++) {
        if (f->ns[i].nsid == nsid) {
            return &f->ns[i];
        }
    }
    return NULL;
}

/* A random namespace of the model, or NULL; ATTACHED: only attached ones. */
static ModelNs *model_pick(Fuzz *f, bool attached, int *ctrl)
{
    int order[MAX_NS];

    for (int i = 0; i < MAX_NS; i++) {
        order[i] = i;
    }
    for (int i = MAX_NS - 1; i > 0; i--) {
        int j = g_rand_int_range(f->rand, 0, i + 1);
        int t = order[i];

        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < MAX_NS; i++) {
        ModelNs *ns = &f->ns[order[i]];

        if (!ns->nsid) {
            continue;
        }
        if (!attached) {
            return ns;
        }
        for (int c = 0; c < NCTRL; c++) {
            if (ns->attached[c]) {
                *ctrl = c;
                return ns;
            }
        }
    }
    return NULL;
}

static void check_lists(Fuzz *f)
{
    NvmeIdCtrl id;
    uint32_t list[1024];
    uint64_t used = 0;

    for (int i = 0; i < MAX_NS; i++) {
        used += f->ns[i].size;
    }
    g_assert_cmphex(qnvme_identify(f->c[0], NVME_ID_CNS_CTRL, 0, 0, 0,
                                   &id).status, ==, NVME_SUCCESS);
    g_assert_cmpuint(qnvme_cap128(id.tnvmcap), ==, POOL);
    g_assert_cmpuint(qnvme_cap128(id.unvmcap), ==, POOL - used);

    for (int c = -1; c < NCTRL; c++) {
        QNvmeCtrl *ctrl = f->c[c < 0 ? 0 : c];
        uint8_t cns = c < 0 ? NVME_ID_CNS_NS_PRESENT_LIST :
                              NVME_ID_CNS_NS_ACTIVE_LIST;
        int n = 0, want = 0;

        g_assert_cmphex(qnvme_identify(ctrl, cns, 0, 0, 0, list).status, ==,
                        NVME_SUCCESS);
        for (; n < 1024 && list[n]; n++) {
            ModelNs *ns = model_find(f, le32_to_cpu(list[n]));

            g_assert_nonnull(ns);
            g_assert_true(c < 0 || ns->attached[c]);
        }
        for (int i = 0; i < MAX_NS; i++) {
            want += f->ns[i].nsid && (c < 0 || f->ns[i].attached[c]);
        }
        g_assert_cmpint(n, ==, want);
    }
}

static void check_data(Fuzz *f, ModelNs *ns, int c)
{
    g_autofree uint8_t *buf = g_malloc(xfer(ns));
    GHashTableIter it;
    gpointer k, v;

    g_hash_table_iter_init(&it, ns->data);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        uint64_t lba = GPOINTER_TO_SIZE(k);

        g_assert_cmphex(qnvme_read(f->c[c], ns->nsid, lba, 1, buf,
                                   xfer(ns)).status, ==, NVME_SUCCESS);
        g_assert_cmpint(buf[0], ==, GPOINTER_TO_INT(v));
        g_assert_cmpint(buf[blksz(ns) - 1], ==, GPOINTER_TO_INT(v));
    }
}

/* After a restart: no zone open, write pointers as modelled. */
static void check_zones(Fuzz *f, ModelNs *ns, int c)
{
    uint64_t nz = ns->nsze / zone_blocks(ns);
    size_t len = 64 + nz * 64;
    g_autofree uint8_t *buf = g_malloc0(len);
    NvmeCmd cmd = {
        .opcode = NVME_CMD_ZONE_MGMT_RECV,
        .nsid = cpu_to_le32(ns->nsid),
        .cdw12 = cpu_to_le32(len / 4 - 1),
    };

    g_assert_cmphex(qnvme_io(f->c[c], &cmd, buf, len, QNVME_FROM_DEV).status,
                    ==, NVME_SUCCESS);
    g_assert_cmpuint(ldq_le_p(buf), ==, nz);
    for (uint64_t z = 0; z < nz; z++) {
        const uint8_t *d = buf + 64 + z * 64;
        uint8_t state = d[1] >> 4;

        g_assert_cmpint(state, !=, NVME_ZONE_STATE_IMPLICITLY_OPEN);
        g_assert_cmpint(state, !=, NVME_ZONE_STATE_EXPLICITLY_OPEN);
        g_assert_cmpuint(ldq_le_p(d + 24), ==, ns->wp[z]);
    }
}

static void check_all(Fuzz *f, bool restarted)
{
    check_lists(f);
    for (int i = 0; i < MAX_NS; i++) {
        ModelNs *ns = &f->ns[i];

        for (int c = 0; ns->nsid && c < NCTRL; c++) {
            if (!ns->attached[c]) {
                continue;
            }
            check_data(f, ns, c);
            if (ns->zoned && restarted) {
                check_zones(f, ns, c);
            }
            break;
        }
    }
}

static void op_create(Fuzz *f)
{
    static const uint8_t lbafs[] = { 0, 1, 4 };
    ModelNs *ns = model_find(f, 0);
    bool zoned = g_rand_boolean(f->rand);
    uint8_t lbaf = lbafs[g_rand_int_range(f->rand, 0, zoned ? 2 : 3)];
    ModelNs tmpl = { .zoned = zoned, .lbaf = zoned && lbaf ? 4 : lbaf };
    uint64_t used = 0;
    QNvmeResult r;

    if (!ns) {
        return;
    }
    tmpl.nsze = zoned ? g_rand_int_range(f->rand, 1, 9) * zone_blocks(&tmpl)
                      : g_rand_int_range(f->rand, 1, 4096);
    tmpl.size = tmpl.nsze * (blksz(&tmpl) + (tmpl.lbaf == 1 ? 8 : 0));
    for (int i = 0; i < MAX_NS; i++) {
        used += f->ns[i].size;
    }
    r = qnvme_ns_create(f->c[g_rand_int_range(f->rand, 0, NCTRL)],
                        zoned ? NVME_CSI_ZONED : NVME_CSI_NVM, tmpl.nsze,
                        tmpl.nsze, tmpl.lbaf | (tmpl.lbaf == 1 ? 0x10 : 0), 0,
                        g_rand_boolean(f->rand));
    if (used + tmpl.size > POOL) {
        g_assert_cmphex(QNVME_STATUS(r.status), ==,
                        NVME_NS_INSUFFICIENT_CAPACITY);
        return;
    }
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    *ns = tmpl;
    ns->nsid = r.dw0;
    ns->data = g_hash_table_new(NULL, NULL);
    if (zoned) {
        ns->wp = g_new0(uint64_t, ns->nsze / zone_blocks(ns));
    }
    model_clear_data(ns);
}

static void op_delete(Fuzz *f)
{
    ModelNs *ns = model_pick(f, false, NULL);
    QNvmeCtrl *c = f->c[g_rand_int_range(f->rand, 0, NCTRL)];

    if (g_rand_int_range(f->rand, 0, 8) == 0) {
        g_assert_cmphex(qnvme_ns_delete(c, NVME_NSID_BROADCAST).status, ==,
                        NVME_SUCCESS);
        for (int i = 0; i < MAX_NS; i++) {
            model_free(&f->ns[i]);
        }
        return;
    }
    if (ns) {
        g_assert_cmphex(qnvme_ns_delete(c, ns->nsid).status, ==,
                        NVME_SUCCESS);
        model_free(ns);
    }
}

static void op_attach(Fuzz *f, bool detach)
{
    ModelNs *ns = model_pick(f, false, NULL);
    uint16_t cntlid = g_rand_int_range(f->rand, 0, NCTRL);
    QNvmeResult r;

    if (!ns) {
        return;
    }
    r = qnvme_ns_attach(f->c[g_rand_int_range(f->rand, 0, NCTRL)], ns->nsid,
                        detach, &cntlid, 1);
    if (detach != ns->attached[cntlid]) {
        g_assert_cmphex(QNVME_STATUS(r.status), ==, detach ?
                        NVME_NS_NOT_ATTACHED : NVME_NS_ALREADY_ATTACHED);
        return;
    }
    /* a private namespace attached elsewhere */
    if (!detach && QNVME_STATUS(r.status) == NVME_NS_PRIVATE) {
        g_assert_true(ns->attached[!cntlid]);
        return;
    }
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    ns->attached[cntlid] = !detach;
}

static void op_write(Fuzz *f)
{
    int c;
    ModelNs *ns = model_pick(f, true, &c);
    g_autofree uint8_t *buf = NULL;
    uint8_t v = g_rand_int_range(f->rand, 1, 256);
    uint64_t lba;

    if (!ns) {
        return;
    }
    if (ns->zoned) {
        uint64_t z = g_rand_int_range(f->rand, 0,
                                      ns->nsze / zone_blocks(ns));

        lba = ns->wp[z];
        if (lba == (z + 1) * zone_blocks(ns)) {
            return;     /* full */
        }
        ns->wp[z]++;
    } else {
        lba = g_rand_int_range(f->rand, 0, ns->nsze);
    }
    buf = g_malloc(xfer(ns));
    memset(buf, v, xfer(ns));
    g_assert_cmphex(qnvme_write(f->c[c], ns->nsid, lba, 1, buf,
                                xfer(ns)).status, ==, NVME_SUCCESS);
    g_hash_table_insert(ns->data, GSIZE_TO_POINTER(lba), GINT_TO_POINTER(v));
}

static void op_format(Fuzz *f)
{
    int c;
    ModelNs *ns = model_pick(f, true, &c);
    uint8_t lbaf = g_rand_boolean(f->rand) ? 4 : 0;
    QNvmeResult r;

    if (!ns) {
        return;
    }
    r = qnvme_format(f->c[c], ns->nsid, lbaf, 0, 0, 0);
    if (ns->size < (lbaf == 4 ? 4096 : 512)) {
        g_assert_cmphex(QNVME_STATUS(r.status), ==, NVME_INVALID_FORMAT);
        return;
    }
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    ns->lbaf = lbaf;
    ns->nsze = ns->size / blksz(ns);
    if (ns->zoned) {
        g_free(ns->wp);
        ns->wp = g_new0(uint64_t, ns->nsze / zone_blocks(ns));
    }
    model_clear_data(ns);
}

/* Delete meets a multi-step command in flight on the namespace. */
static void op_race(Fuzz *f)
{
    int c;
    ModelNs *ns = model_pick(f, true, &c);
    g_autofree NvmeDsmRange *ranges = g_new0(NvmeDsmRange, 64);
    NvmeCmd io = { .nsid = 0 }, del = {
        .opcode = NVME_ADM_CMD_NS_MANAGEMENT,
        .cdw10 = cpu_to_le32(NVME_NS_MANAGEMENT_DELETE),
    };
    QNvmeAsync *a, *d;
    QNvmeResult ra, rd;

    if (!ns) {
        return;
    }
    io.nsid = del.nsid = cpu_to_le32(ns->nsid);
    if (ns->zoned) {
        io.opcode = NVME_CMD_ZONE_MGMT_SEND;
        io.cdw13 = cpu_to_le32(NVME_ZONE_ACTION_RESET | NVME_ZONE_SELECT_ALL);
        a = qnvme_io_async(f->c[c], &io, NULL, 0, QNVME_TO_DEV);
    } else {
        for (int i = 0; i < 64; i++) {
            ranges[i].nlb = cpu_to_le32(1);
            ranges[i].slba = cpu_to_le64(i % ns->nsze);
        }
        io.opcode = NVME_CMD_DSM;
        io.cdw10 = cpu_to_le32(63);
        io.cdw11 = cpu_to_le32(NVME_DSMGMT_AD);
        a = qnvme_io_async(f->c[c], &io, ranges, 64 * sizeof(*ranges),
                           QNVME_TO_DEV);
    }
    qnvme_reg_read32(f->c[c], 0x1c);
    d = qnvme_admin_async(f->c[!c], &del, NULL, 0, QNVME_TO_DEV);
    rd = qnvme_complete(d);
    ra = qnvme_complete(a);
    f->races++;
    if (rd.status == NVME_NS_NOT_READY) {
        f->refused++;
        g_assert_cmphex(ra.status, ==, NVME_SUCCESS);
        if (ns->zoned) {
            model_clear_data(ns);
        } else {
            for (int i = 0; i < 64; i++) {
                g_hash_table_remove(ns->data, GSIZE_TO_POINTER(i % ns->nsze));
            }
        }
        return;
    }
    g_assert_cmphex(rd.status, ==, NVME_SUCCESS);
    model_free(ns);
}

static void op_restart(Fuzz *f)
{
    int how = g_rand_int_range(f->rand, 0, 3);

    if (how == 1) {
        qnvme_ctrl_shutdown(f->c[g_rand_int_range(f->rand, 0, NCTRL)]);
    }
    fuzz_close(f);
    if (how == 0) {
        f->m = qnvme_machine_restart(f->m);
    } else {
        f->m = qnvme_machine_crash_restart(f->m);
        f->kills++;
    }
    f->restarts++;
    fuzz_open(f);
    /* zones open before come back Closed (or Empty if nothing written) */
    check_all(f, true);
}

static void fuzz_step(Fuzz *f)
{
    int op = g_rand_int_range(f->rand, 0, 100);

    if (op < 14) {
        op_create(f);
    } else if (op < 22) {
        op_delete(f);
    } else if (op < 34) {
        op_attach(f, false);
    } else if (op < 40) {
        op_attach(f, true);
    } else if (op < 65) {
        op_write(f);
    } else if (op < 70) {
        op_format(f);
    } else if (op < 76) {
        op_race(f);
    } else if (op < 82) {
        int c = g_rand_int_range(f->rand, 0, NCTRL);

        g_assert_cmphex(qnvme_flush(f->c[c], NVME_NSID_BROADCAST).status,
                        ==, NVME_SUCCESS);
    } else if (op < 88) {
        qnvme_ctrl_reset(f->c[g_rand_int_range(f->rand, 0, NCTRL)]);
    } else if (op < 92) {
        int c = g_rand_int_range(f->rand, 0, NCTRL);

        qnvme_ctrl_shutdown(f->c[c]);
        qnvme_ctrl_reset(f->c[c]);
    } else {
        op_restart(f);
        return;
    }
    check_all(f, false);
}

static void fuzz_run(guint32 seed, int steps)
{
    Fuzz f = { .rand = g_rand_new_with_seed(seed) };

    g_test_message("seed %u, %d steps (QNVME_SEED=%u reproduces it)", seed,
                   steps, seed);
    f.dir = qnvme_tmpdir_new();
    f.m = qnvme_machine_start("-device nvme-subsys,id=s0,auto-ns-path=%s,"
                              "auto-ns-tnvmcap=%llu,auto-ns-zone-size=%llu "
                              "-device nvme,addr=%d.0,serial=rnd,subsys=s0 "
                              "-device nvme,addr=%d.0,serial=rnd,subsys=s0",
                              f.dir, (unsigned long long)POOL,
                              (unsigned long long)ZONE, SLOT0, SLOT0 + 1);
    fuzz_open(&f);
    for (f.steps = 0; f.steps < steps; f.steps++) {
        fuzz_step(&f);
    }
    /* the store the sequence left loads, one last time */
    op_restart(&f);
    g_test_message("seed %u: %d steps, %d restarts (%d killed), %d races "
                   "(%d deletes refused while busy)", seed, f.steps,
                   f.restarts, f.kills, f.races, f.refused);
    fuzz_close(&f);
    qnvme_machine_stop(f.m);
    for (int i = 0; i < MAX_NS; i++) {
        model_free(&f.ns[i]);
    }
    qnvme_tmpdir_free(f.dir);
    g_rand_free(f.rand);
}

static void test_random(void)
{
    const char *s = g_getenv("QNVME_SEED");
    const char *n = g_getenv("QNVME_STEPS");
    const char *t = g_getenv("QNVME_SECONDS");
    guint32 seed = s ? g_ascii_strtoull(s, NULL, 0) : g_test_rand_int();
    int steps = n ? g_ascii_strtoull(n, NULL, 0) : 150;
    gint64 end = g_get_monotonic_time() +
                 (t ? g_ascii_strtoull(t, NULL, 0) : 0) * G_TIME_SPAN_SECOND;

    do {
        fuzz_run(seed++, steps);
    } while (g_get_monotonic_time() < end);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/nvme-random/sequence", test_random);
    return g_test_run();
}
