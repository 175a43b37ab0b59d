/*
 * Benchmarks for NVMe Namespace Management and the namespace store
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 * See the COPYING file in the top-level directory.
 *
 * Not a test: it prints figures (make bench).
 *
 * - Create latency at the device: from QEMU's own trace timestamps
 *   (pci_nvme_ns_mgmt to pci_nvme_enqueue_req_completion of the same
 *   command), for a 1 GiB and a 1 TiB namespace, with the blocks the new
 *   image holds.
 * - Start-up cost of a store with 256 namespaces over an empty store:
 *   the time from starting QEMU to its first answer, medians of runs.
 * - Main-loop stalls: how long QEMU's main loop is held by a command, seen
 *   as the latency of a register read issued right after the command's
 *   doorbell, per create, delete, attach, detach and Flush of a zoned
 *   namespace with a zone state file; and the latency of 4 KiB reads on one
 *   namespace while another is created and deleted in a loop, against idle.
 *   The store is on the disk that holds the temporary directory.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "libqos/nvme-admin.h"

#define SLOT 4
#define RUNS 21
#define START_RUNS 11

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* "TID@SEC.USEC:event args": the time in microseconds, or -1. */
static double line_time(const char *line, const char *event)
{
    const char *at = strchr(line, '@');
    const char *colon;
    unsigned long sec, usec;

    if (!at || sscanf(at + 1, "%lu.%lu", &sec, &usec) != 2) {
        return -1;
    }
    colon = strchr(at, ':');
    if (!colon || !g_str_has_prefix(colon + 1, event)) {
        return -1;
    }
    return sec * 1e6 + usec;
}

/*
 * Device latencies (ms) of the Namespace Management commands with SEL
 * in the trace log, in order.
 */
static int device_latencies(const char *log, int sel, double *out, int max)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    unsigned cid = 0;
    double start = -1, t;
    int n = 0;

    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i] && n < max; i++) {
        unsigned c, s;

        t = line_time(lines[i], "pci_nvme_ns_mgmt ");
        if (t >= 0 && sscanf(strstr(lines[i], "cid "), "cid %u sel 0x%x",
                             &c, &s) == 2 && s == sel) {
            start = t;
            cid = c;
            continue;
        }
        t = line_time(lines[i], "pci_nvme_enqueue_req_completion ");
        if (t >= 0 && start >= 0 &&
            sscanf(strstr(lines[i], "cid "), "cid %u", &c) == 1 &&
            c == cid) {
            out[n++] = (t - start) / 1000.0;
            start = -1;
        }
    }
    return n;
}

static blkcnt_t image_blocks(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    blkcnt_t blocks = 0;

    g_assert(d);
    while ((name = g_dir_read_name(d))) {
        if (g_str_has_suffix(name, ".img")) {
            g_autofree char *p = g_build_filename(dir, name, NULL);
            struct stat st;

            g_assert_cmpint(stat(p, &st), ==, 0);
            blocks += st.st_blocks;
        }
    }
    g_dir_close(d);
    return blocks;
}

static void bench_create(void)
{
    static const struct {
        const char *name;
        uint64_t blocks;
    } sizes[] = {
        { "1 GiB", 1ULL << 21 },
        { "1 TiB", 1ULL << 31 },
    };
    char *dir = qnvme_tmpdir_new();
    g_autofree char *log = g_build_filename(dir, "trace.log", NULL);
    g_autofree char *store = g_build_filename(dir, "store", NULL);
    double lat[2][RUNS], med[2];
    blkcnt_t maxblocks[2] = { 0, 0 };
    QNvmeMachine *m;
    QNvmeCtrl *c;

    g_assert_cmpint(mkdir(store, 0700), ==, 0);
    m = qnvme_machine_start("-msg timestamp=on -D %s "
                            "-trace pci_nvme_ns_mgmt "
                            "-trace pci_nvme_enqueue_req_completion "
                            "-device nvme,addr=%d.0,serial=b0,"
                            "auto-ns-path=%s,auto-ns-tnvmcap=2T",
                            log, SLOT, store);
    c = qnvme_ctrl_open(m, SLOT);
    /* alternate the sizes so that both see the same conditions */
    for (int r = 0; r < RUNS; r++) {
        for (int i = 0; i < 2; i++) {
            QNvmeResult res = qnvme_ns_create(c, 0, sizes[i].blocks,
                                              sizes[i].blocks, 0, 0, 0);

            g_assert_cmphex(res.status, ==, NVME_SUCCESS);
            maxblocks[i] = MAX(maxblocks[i], image_blocks(store));
            g_assert_cmphex(qnvme_ns_delete(c, res.dw0).status, ==,
                            NVME_SUCCESS);
        }
    }
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);

    {
        double all[2 * RUNS];
        int n = device_latencies(log, 0, all, 2 * RUNS);

        g_assert_cmpint(n, ==, 2 * RUNS);
        for (int r = 0; r < RUNS; r++) {
            lat[0][r] = all[2 * r];
            lat[1][r] = all[2 * r + 1];
        }
    }

    printf("\nNamespace Management create, latency at the device "
           "(%d creates each, QEMU trace timestamps)\n", RUNS);
    printf("  %-10s %10s %10s %10s %16s\n", "size", "median ms", "min ms",
           "max ms", "blocks allocated");
    for (int i = 0; i < 2; i++) {
        med[i] = median(lat[i], RUNS);
        printf("  %-10s %10.3f %10.3f %10.3f %16lld\n", sizes[i].name, med[i],
               lat[i][0], lat[i][RUNS - 1], (long long)maxblocks[i]);
    }
    printf("  ratio 1 TiB / 1 GiB (medians): %.3f   (goals: median < 5 ms, "
           "ratio < 1.2, no blocks)\n", med[1] / med[0]);
    qnvme_tmpdir_free(dir);
}

/* Wall time (ms) from starting QEMU on STORE until it answers, to exit. */
static double start_time(const char *store)
{
    gint64 t0 = g_get_monotonic_time();
    QNvmeMachine *m = qnvme_machine_start("-device nvme,addr=%d.0,serial=b0,"
                                          "auto-ns-path=%s", SLOT, store);
    double ms;

    /* the qtest handshake is QEMU's first answer after machine init */
    qtest_readl(m->qts, 0);
    ms = (g_get_monotonic_time() - t0) / 1000.0;
    qnvme_machine_stop(m);
    return ms;
}

static void bench_startup(void)
{
    char *dir = qnvme_tmpdir_new();
    g_autofree char *empty = g_build_filename(dir, "empty", NULL);
    g_autofree char *full = g_build_filename(dir, "full", NULL);
    double t_empty[START_RUNS], t_full[START_RUNS], me, mf;
    QNvmeMachine *m;
    QNvmeCtrl *c;

    g_assert_cmpint(mkdir(empty, 0700), ==, 0);
    g_assert_cmpint(mkdir(full, 0700), ==, 0);
    for (int k = 0; k < 2; k++) {
        m = qnvme_machine_start("-device nvme,addr=%d.0,serial=b0,"
                                "auto-ns-path=%s,auto-ns-tnvmcap=1T", SLOT,
                                k ? full : empty);
        c = qnvme_ctrl_open(m, SLOT);
        for (int i = 0; k && i < 256; i++) {
            QNvmeResult r = qnvme_ns_create(c, 0, 2048, 2048, 0, 0, 1);
            uint16_t cntlid = 0;

            g_assert_cmphex(r.status, ==, NVME_SUCCESS);
            g_assert_cmphex(qnvme_ns_attach(c, r.dw0, false, &cntlid,
                                            1).status, ==, NVME_SUCCESS);
        }
        qnvme_ctrl_close(c);
        qnvme_machine_stop(m);
    }

    /* alternate, after one warm-up each */
    start_time(empty);
    start_time(full);
    for (int r = 0; r < START_RUNS; r++) {
        t_empty[r] = start_time(empty);
        t_full[r] = start_time(full);
    }
    me = median(t_empty, START_RUNS);
    mf = median(t_full, START_RUNS);
    printf("\nQEMU start-up, from exec to the first qtest answer "
           "(median of %d runs)\n", START_RUNS);
    printf("  %-28s %10s\n", "store", "median ms");
    printf("  %-28s %10.2f\n", "empty", me);
    printf("  %-28s %10.2f\n", "256 namespaces, attached", mf);
    printf("  added per namespace: %.3f ms   (goal: < 0.5 ms)\n",
           (mf - me) / 256);
    qnvme_tmpdir_free(dir);
}

static double pct(double *v, int n, double p)
{
    qsort(v, n, sizeof(double), cmp_double);
    return v[MIN(n - 1, (int)(p * n))];
}

/* Microseconds a register read takes: one turn of QEMU's main loop. */
static double probe_us(QNvmeCtrl *c)
{
    gint64 t0 = g_get_monotonic_time();

    qnvme_reg_read32(c, 0x1c);
    return g_get_monotonic_time() - t0;
}

static double read_us(QNvmeCtrl *c, uint32_t nsid, uint64_t lba)
{
    char buf[4096];
    gint64 t0 = g_get_monotonic_time();

    g_assert_cmphex(qnvme_read(c, nsid, lba, 8, buf, sizeof(buf)).status, ==,
                    NVME_SUCCESS);
    return g_get_monotonic_time() - t0;
}

static QNvmeAsync *create_async(QNvmeCtrl *c, uint8_t csi, uint64_t nsze,
                                uint8_t *data)
{
    NvmeCmd cmd = {
        .opcode = 0x0d,
        .cdw11 = cpu_to_le32((uint32_t)csi << 24),
    };

    memset(data, 0, NVME_IDENTIFY_DATA_SIZE);
    stq_le_p(data, nsze);
    stq_le_p(data + 8, nsze);
    return qnvme_admin_async(c, &cmd, data, NVME_IDENTIFY_DATA_SIZE,
                             QNVME_TO_DEV);
}

static QNvmeAsync *simple_async(QNvmeCtrl *c, uint8_t opc, uint32_t nsid,
                                uint32_t cdw10, uint16_t *list)
{
    NvmeCmd cmd = {
        .opcode = opc,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(cdw10),
    };

    if (opc == NVME_CMD_FLUSH) {
        return qnvme_io_async(c, &cmd, NULL, 0, QNVME_TO_DEV);
    }
    return qnvme_admin_async(c, &cmd, list, list ? 4096 : 0, QNVME_TO_DEV);
}

static void print_row(const char *what, double *v, int n)
{
    double med = median(v, n);

    printf("  %-34s %6d %10.1f %10.1f %10.1f\n", what, n, med,
           pct(v, n, 0.99), v[n - 1]);
}

#define STALL_RUNS 25
#define IO_CYCLES 25

static void bench_stall(void)
{
    char *dir = qnvme_tmpdir_new();
    g_autofree char *store = g_build_filename(dir, "store", NULL);
    g_autofree uint8_t *data = g_malloc0(NVME_IDENTIFY_DATA_SIZE);
    g_autofree uint16_t *list = g_malloc0(4096);
    static const char *const names[] = {
        "create (NVM, 1 GiB)", "attach", "detach", "delete",
        "Flush, NVM (256 blocks dirty)", "Flush, zoned (256 zones dirty)",
    };
    double stall[6][STALL_RUNS], idle[STALL_RUNS];
    double io_idle[400], io_busy[4000];
    int n_idle = 0, n_busy = 0;
    QNvmeMachine *m;
    QNvmeCtrl *c;
    QNvmeResult r;
    uint32_t zns;

    g_assert_cmpint(mkdir(store, 0700), ==, 0);
    m = qnvme_machine_start("-device nvme,addr=%d.0,serial=b0,"
                            "auto-ns-path=%s,auto-ns-tnvmcap=64G,"
                            "auto-ns-zone-size=1M", SLOT, store);
    c = qnvme_ctrl_open(m, SLOT);
    list[0] = cpu_to_le16(1);
    list[1] = 0;

    /* namespace 1 serves the reads; 2 is zoned, for the Flush */
    for (int i = 0; i < 2; i++) {
        r = qnvme_ns_create(c, i ? NVME_CSI_ZONED : NVME_CSI_NVM, 1 << 19,
                            1 << 19, 0, 0, 0);
        g_assert_cmphex(r.status, ==, NVME_SUCCESS);
        g_assert_cmphex(qnvme_ns_attach(c, r.dw0, false, &list[1], 1).status,
                        ==, NVME_SUCCESS);
    }
    zns = r.dw0;
    for (int i = 0; i < 400; i++) {
        io_idle[n_idle++] = read_us(c, 1,
                                    g_test_rand_int_range(0, (1 << 19) - 8));
    }

    for (int k = 0; k < STALL_RUNS; k++) {
        QNvmeAsync *a;
        uint32_t nsid;
        char buf[512] = { 1 };

        idle[k] = probe_us(c);

        a = create_async(c, NVME_CSI_NVM, 1 << 21, data);
        stall[0][k] = probe_us(c);
        r = qnvme_complete(a);
        g_assert_cmphex(r.status, ==, NVME_SUCCESS);
        nsid = r.dw0;

        a = simple_async(c, NVME_ADM_CMD_NS_ATTACHMENT, nsid, 0, list);
        stall[1][k] = probe_us(c);
        g_assert_cmphex(qnvme_complete(a).status, ==, NVME_SUCCESS);
        a = simple_async(c, NVME_ADM_CMD_NS_ATTACHMENT, nsid, 1, list);
        stall[2][k] = probe_us(c);
        g_assert_cmphex(qnvme_complete(a).status, ==, NVME_SUCCESS);
        a = simple_async(c, 0x0d, nsid, 1, NULL);
        stall[3][k] = probe_us(c);
        g_assert_cmphex(qnvme_complete(a).status, ==, NVME_SUCCESS);

        /*
         * The same 256 dirty blocks on namespace 1 and, one into each
         * zone, on the zoned one: its Flush also syncs the zone state.
         */
        for (int f = 0; f < 2; f++) {
            for (int z = 0; z < 256; z++) {
                g_assert_cmphex(qnvme_write(c, f ? zns : 1, z * 2048 + k, 1,
                                            buf, 512).status, ==,
                                NVME_SUCCESS);
            }
            a = simple_async(c, NVME_CMD_FLUSH, f ? zns : 1, 0, NULL);
            stall[4 + f][k] = probe_us(c);
            g_assert_cmphex(qnvme_complete(a).status, ==, NVME_SUCCESS);
        }
    }

    /* reads on namespace 1 while another is created and deleted */
    for (int k = 0; k < IO_CYCLES; k++) {
        QNvmeAsync *a = create_async(c, NVME_CSI_NVM, 1 << 21, data);

        for (int step = 0; step < 2; step++) {
            /* the first read goes right after the doorbell */
            do {
                io_busy[n_busy++] = read_us(c, 1, g_test_rand_int_range(
                                                0, (1 << 19) - 8));
            } while (!qnvme_done(a) && n_busy < ARRAY_SIZE(io_busy));
            r = qnvme_complete(a);
            g_assert_cmphex(r.status, ==, NVME_SUCCESS);
            if (!step) {
                a = simple_async(c, 0x0d, r.dw0, 1, NULL);
            }
        }
    }
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);

    printf("\nMain-loop stalls: a register read issued right after the "
           "command's doorbell (store on %s)\n", dir);
    printf("  %-34s %6s %10s %10s %10s\n", "command", "runs", "median us",
           "p99 us", "max us");
    print_row("(none: idle)", idle, STALL_RUNS);
    for (int i = 0; i < ARRAY_SIZE(names); i++) {
        print_row(names[i], stall[i], STALL_RUNS);
    }
    printf("\n4 KiB reads (QD1) on one namespace, from submission to "
           "completion\n");
    printf("  %-34s %6s %10s %10s %10s\n", "while", "reads", "median us",
           "p99 us", "max us");
    print_row("idle", io_idle, n_idle);
    print_row("another is created and deleted", io_busy, n_busy);
    qnvme_tmpdir_free(dir);
}

/*
 * nvme-ns-resize from the host (QMP), at the device: a namespace of 1 GiB
 * grown by 1 GiB, and one grown to 1 TiB; each shrunk back (force)
 * between runs.  The image must stay unallocated.  ZONED: a zoned
 * namespace of 64 MiB zones (16 zones, then 32 or 16384), whose zone
 * state file is laid out anew each time.
 */
static void bench_resize_one(bool zoned)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QTestState *qts = qtest_initf("-machine pc -device nvme,id=nvme0,"
                                  "addr=%d.0,serial=bench,auto-ns-path=%s,"
                                  "auto-ns-tnvmcap=2T,"
                                  "auto-ns-zone-size=64M", SLOT, dir);
    const uint64_t to[2] = { 2 * GiB, 1 * TiB };
    const char *name[2] = { "1 GiB -> 2 GiB", "1 GiB -> 1 TiB" };
    double lat[2][RUNS];
    g_autofree char *img = NULL;
    struct stat st;

    qtest_qmp_assert_success(qts, "{'execute': 'nvme-ns-create', "
                             "'arguments': {'subsys': 'nvme0', "
                             "'size': %" PRIu64 ", 'command-set': %s}}",
                             (uint64_t)GiB, zoned ? "zoned" : "nvm");
    for (int r = 0; r < RUNS; r++) {
        for (int i = 0; i < 2; i++) {
            gint64 t0 = g_get_monotonic_time();

            qtest_qmp_assert_success(qts, "{'execute': 'nvme-ns-resize', "
                                     "'arguments': {'subsys': 'nvme0', "
                                     "'nsid': 1, 'size': %" PRIu64 "}}",
                                     to[i]);
            lat[i][r] = (g_get_monotonic_time() - t0) / 1000.0;
            qtest_qmp_assert_success(qts, "{'execute': 'nvme-ns-resize', "
                                     "'arguments': {'subsys': 'nvme0', "
                                     "'nsid': 1, 'size': %" PRIu64 ", "
                                     "'force': true}}", (uint64_t)GiB);
        }
    }
    qtest_qmp_assert_success(qts, "{'execute': 'nvme-ns-resize', "
                             "'arguments': {'subsys': 'nvme0', 'nsid': 1, "
                             "'size': %" PRIu64 "}}", (uint64_t)TiB);
    img = qnvme_dir_only(dir, "ns-", ".img");
    g_assert_cmpint(stat(img, &st), ==, 0);

    printf("\n  nvme-ns-resize (QMP) of a%s namespace at the device, %d "
           "runs: median ms (record written, image grown, %scontrollers "
           "told)\n", zoned ? " zoned" : "n NVM", RUNS,
           zoned ? "zone state file laid out anew, " : "");
    for (int i = 0; i < 2; i++) {
        printf("  %-16s %8.3f\n", name[i], median(lat[i], RUNS));
    }
    printf("  image after growing to 1 TiB: %" PRId64 " bytes, %" PRId64
           " blocks allocated (goal: median < 5 ms, 0 blocks)\n",
           (int64_t)st.st_size, (int64_t)st.st_blocks);
    qtest_quit(qts);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

static void bench_resize(void)
{
    bench_resize_one(false);
}

static void bench_resize_zoned(void)
{
    bench_resize_one(true);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/nvme-ns-bench/create", bench_create);
    qtest_add_func("/nvme-ns-bench/startup", bench_startup);
    qtest_add_func("/nvme-ns-bench/stall", bench_stall);
    qtest_add_func("/nvme-ns-bench/resize", bench_resize);
    qtest_add_func("/nvme-ns-bench/resize-zoned", bench_resize_zoned);
    return g_test_run();
}
