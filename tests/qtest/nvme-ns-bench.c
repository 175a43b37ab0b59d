/*
 * Benchmarks for NVMe Namespace Management and the namespace store
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/nvme-ns-bench/create", bench_create);
    qtest_add_func("/nvme-ns-bench/startup", bench_startup);
    return g_test_run();
}
