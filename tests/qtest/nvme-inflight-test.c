/*
 * QTest testcase for NVMe commands in flight across Namespace Management,
 * Format NVM and controller reset, and for stores a guest's legal commands
 * must never leave unloadable
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 * See the COPYING file in the top-level directory.
 *
 * The races are made with the driver's asynchronous submission: an I/O
 * command is submitted and fetched (one register read lets QEMU's main loop
 * run the submission queue), then an admin command that deletes, detaches
 * or formats its namespace, or a controller reset, meets it in flight.
 * Every test ends by restarting QEMU on the same store: it must load.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "libqos/nvme-admin.h"

#define SLOT0 4
#define SLOT1 5
#define POOL (64 * MiB)
#define ZONE (64 * KiB)
#define NVME_ZONE_ACTION_RESET 0x4
#define NVME_ZONE_SELECT_ALL (1 << 8)

/* FLBAS of LBA format LBAF, metadata at the end of each block if EXT. */
#define FLBAS(lbaf, ext) ((lbaf) | ((ext) ? 0x10 : 0))

static QNvmeMachine *start_store(const char *dir)
{
    return qnvme_machine_start("-device nvme-subsys,id=subsys0,"
                               "auto-ns-path=%s,auto-ns-tnvmcap=%llu,"
                               "auto-ns-zone-size=%llu "
                               "-device nvme,addr=%d.0,serial=inf0,"
                               "subsys=subsys0 "
                               "-device nvme,addr=%d.0,serial=inf0,"
                               "subsys=subsys0",
                               dir, (unsigned long long)POOL,
                               (unsigned long long)ZONE, SLOT0, SLOT1);
}

static uint32_t create(QNvmeCtrl *c, uint8_t csi, uint64_t nsze,
                       uint8_t flbas)
{
    QNvmeResult r = qnvme_ns_create(c, csi, nsze, nsze, flbas, 0, 0);

    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    return r.dw0;
}

static void attach(QNvmeCtrl *c, uint32_t nsid, uint16_t cntlid)
{
    g_assert_cmphex(qnvme_ns_attach(c, nsid, false, &cntlid, 1).status, ==,
                    NVME_SUCCESS);
}

/* Let QEMU fetch what was submitted: a register read is a main-loop turn. */
static void let_run(QNvmeCtrl *c)
{
    qnvme_reg_read32(c, 0x1c);
}

static uint64_t id_nsze(QNvmeCtrl *c, uint32_t nsid)
{
    NvmeIdNs id;

    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, nsid, 0, 0,
                                   &id).status, ==, NVME_SUCCESS);
    return le64_to_cpu(id.nsze);
}

static bool ns_allocated(QNvmeCtrl *c, uint32_t nsid)
{
    uint32_t list[1024];

    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS_PRESENT_LIST, 0, 0, 0,
                                   list).status, ==, NVME_SUCCESS);
    for (int i = 0; i < 1024 && list[i]; i++) {
        if (le32_to_cpu(list[i]) == nsid) {
            return true;
        }
    }
    return false;
}

/* Write one block at the start of each of NZONES zones of ZONE bytes. */
static void write_zone_starts(QNvmeCtrl *c, uint32_t nsid, uint32_t lbasz,
                              int nzones)
{
    g_autofree uint8_t *buf = g_malloc0(lbasz);

    for (int z = 0; z < nzones; z++) {
        memset(buf, z + 1, lbasz);
        g_assert_cmphex(qnvme_write(c, nsid, (uint64_t)z * (ZONE / 512),
                                    1, buf, lbasz).status, ==,
                        NVME_SUCCESS);
    }
}

static QNvmeAsync *zone_reset_all_async(QNvmeCtrl *c, uint32_t nsid)
{
    NvmeCmd cmd = {
        .opcode = NVME_CMD_ZONE_MGMT_SEND,
        .nsid = cpu_to_le32(nsid),
        .cdw13 = cpu_to_le32(NVME_ZONE_ACTION_RESET | NVME_ZONE_SELECT_ALL),
    };

    return qnvme_io_async(c, &cmd, NULL, 0, QNVME_TO_DEV);
}

static QNvmeAsync *delete_prepare(QNvmeCtrl *c, uint32_t nsid)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_NS_MANAGEMENT,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(NVME_NS_MANAGEMENT_DELETE),
    };

    return qnvme_admin_prepare(c, &cmd, NULL, 0, QNVME_TO_DEV);
}

static QNvmeAsync *delete_async(QNvmeCtrl *c, uint32_t nsid)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_NS_MANAGEMENT,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(NVME_NS_MANAGEMENT_DELETE),
    };

    return qnvme_admin_async(c, &cmd, NULL, 0, QNVME_TO_DEV);
}

/*
 * F1: Delete of a zoned namespace while a Zone Management Send Reset with
 * Select All runs on it.  The reset is a chain of writes, each issued from
 * the completion of the one before; Delete must not free the zones under
 * it.  Delete either waits its turn (Namespace Not Ready, which the host
 * retries) or the reset is already done; either way the namespace goes,
 * QEMU lives and the store loads.
 */
static void test_delete_during_zone_reset(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    int refused = 0;

    for (int round = 0; round < 6; round++) {
        /* 512 + 8 bytes with the metadata in the block, or 512 bytes */
        uint8_t flbas = (round & 1) ? FLBAS(1, true) : FLBAS(0, false);
        uint32_t nsid = create(c, NVME_CSI_ZONED, 128 * (ZONE / 512), flbas);
        QNvmeAsync *reset, *del;
        QNvmeResult rr, rd;

        attach(c, nsid, 0);
        write_zone_starts(c, nsid, (round & 1) ? 520 : 512, 128);

        reset = zone_reset_all_async(c, nsid);
        let_run(c);
        del = delete_async(c, nsid);
        rd = qnvme_complete(del);
        rr = qnvme_complete(reset);

        g_assert_cmphex(rr.status, ==, NVME_SUCCESS);
        if (rd.status == NVME_NS_NOT_READY) {
            refused++;
            rd = qnvme_ns_delete(c, nsid);
        }
        g_assert_cmphex(rd.status, ==, NVME_SUCCESS);
        g_assert_false(ns_allocated(c, nsid));
    }
    g_test_message("%d of 6 deletes met the reset in flight", refused);
    /* the window is real: most rounds must have met it */
    g_assert_cmpint(refused, >=, 1);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/* Zones of NSID that Report Zones counts, and how many of them are Empty */
static uint64_t zones_empty(QNvmeCtrl *c, uint32_t nsid, uint64_t *empty)
{
    size_t len = 64 + 1024 * 64;
    g_autofree uint8_t *buf = g_malloc0(len);
    NvmeCmd cmd = {
        .opcode = NVME_CMD_ZONE_MGMT_RECV,
        .nsid = cpu_to_le32(nsid),
        .cdw12 = cpu_to_le32(len / 4 - 1),
    };
    uint64_t nr;

    g_assert_cmphex(qnvme_io(c, &cmd, buf, len, QNVME_FROM_DEV).status, ==,
                    NVME_SUCCESS);
    nr = ldq_le_p(buf);
    g_assert_cmpuint(nr, <=, 1024);
    *empty = 0;
    for (uint64_t i = 0; i < nr; i++) {
        *empty += buf[64 + i * 64 + 1] >> 4 == NVME_ZONE_STATE_EMPTY;
    }
    return nr;
}

/*
 * nvme-ns-resize (QMP) of a zoned namespace while a Zone Management Send
 * Reset with Select All runs on it: the zone array moves at the resize,
 * and the reset holds a zone across each of its writes.  The resize waits
 * for it; both succeed, every zone is Empty, the namespace has its new
 * zones, and the store loads.
 */
static void test_resize_during_zone_reset(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);

    for (int round = 0; round < 4; round++) {
        uint64_t nzones = (round & 1) ? 64 : 256, nr, empty;
        uint32_t nsid = create(c, NVME_CSI_ZONED, 128 * (ZONE / 512),
                               FLBAS(0, false));
        QNvmeAsync *reset;

        attach(c, nsid, 0);
        write_zone_starts(c, nsid, 512, 128);

        reset = zone_reset_all_async(c, nsid);
        let_run(c);
        qtest_qmp_assert_success(m->qts, "{'execute': 'nvme-ns-resize', "
                                 "'arguments': {'subsys': 'subsys0', "
                                 "'nsid': %u, 'size': %" PRId64 ", "
                                 "'force': true}}", nsid,
                                 (int64_t)(nzones * ZONE));
        g_assert_cmphex(qnvme_complete(reset).status, ==, NVME_SUCCESS);
        g_assert_cmpuint(id_nsze(c, nsid), ==, nzones * (ZONE / 512));
        nr = zones_empty(c, nsid, &empty);
        g_assert_cmpuint(nr, ==, nzones);
        g_assert_cmpuint(empty, ==, nzones);
        g_assert_cmphex(qnvme_ns_delete(c, nsid).status, ==, NVME_SUCCESS);
    }

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

static QNvmeAsync *dsm_async(QNvmeCtrl *c, uint32_t nsid, void *ranges,
                             int nr)
{
    NvmeCmd cmd = {
        .opcode = NVME_CMD_DSM,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(nr - 1),
        .cdw11 = cpu_to_le32(NVME_DSMGMT_AD),
    };

    return qnvme_io_async(c, &cmd, ranges, nr * sizeof(NvmeDsmRange),
                          QNVME_TO_DEV);
}

/*
 * Delete of a namespace while a Dataset Management deallocate of 256
 * ranges runs on it from the other controller (one discard per range,
 * each issued from the completion of the one before).
 */
#define DSM_ROUNDS 8

static void test_delete_during_dsm(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c0 = qnvme_ctrl_open(m, SLOT0);
    QNvmeCtrl *c1 = qnvme_ctrl_open(m, SLOT1);
    g_autofree NvmeDsmRange *ranges = g_new0(NvmeDsmRange, 256);
    uint16_t ids[2] = { 0, 1 };
    int refused = 0;

    for (int i = 0; i < 256; i++) {
        ranges[i].nlb = cpu_to_le32(8);
        ranges[i].slba = cpu_to_le64(i * 64);
    }
    /* DSM_ROUNDS rounds, more (up to 8 times as many) until one met it */
    for (int round = 0; round < DSM_ROUNDS * 8 &&
                        (round < DSM_ROUNDS || !refused); round++) {
        uint32_t nsid = qnvme_ns_create(c0, NVME_CSI_NVM, 16384, 16384, 0, 0,
                                        NVME_ID_NS_IND_NMIC_SHRNS).dw0;
        QNvmeAsync *dsm, *del;
        QNvmeResult rd, rm;

        g_assert_cmpint(nsid, >=, 1);
        g_assert_cmphex(qnvme_ns_attach(c0, nsid, false, ids, 2).status, ==,
                        NVME_SUCCESS);
        /* the delete is in the queue: one doorbell behind the DSM's */
        del = delete_prepare(c0, nsid);
        dsm = dsm_async(c1, nsid, ranges, 256);
        qnvme_ring(del);
        rd = qnvme_complete(del);
        rm = qnvme_complete(dsm);
        g_assert_cmphex(rm.status, ==, NVME_SUCCESS);
        if (rd.status == NVME_NS_NOT_READY) {
            refused++;
            rd = qnvme_ns_delete(c0, nsid);
        }
        g_assert_cmphex(rd.status, ==, NVME_SUCCESS);
        g_assert_false(ns_allocated(c0, nsid));
    }
    g_test_message("%d deletes met the DSM in flight", refused);
    /* the window is real; a busy host may shrink it, not close it */
    g_assert_cmpint(refused, >=, 1);

    qnvme_ctrl_close(c0);
    qnvme_ctrl_close(c1);
    m = qnvme_machine_restart(m);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/* Copy descriptor formats 2 and 3 (ranges naming their namespace). */
static void enable_copy_formats(QNvmeCtrl *c)
{
    NvmeHostBehaviorSupport hbs = { .cdfe = cpu_to_le16(0xc) };
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_SET_FEATURES,
        .cdw10 = cpu_to_le32(NVME_HOST_BEHAVIOR_SUPPORT),
    };

    g_assert_cmphex(qnvme_admin(c, &cmd, &hbs, sizeof(hbs),
                                QNVME_TO_DEV).status, ==, NVME_SUCCESS);
}

static NvmeCmd copy_cmd(uint32_t nsid, uint64_t sdlba, int nr)
{
    NvmeCmd cmd = { .opcode = NVME_CMD_COPY };
    NvmeCopyCmd *copy = (NvmeCopyCmd *)&cmd;

    copy->nsid = cpu_to_le32(nsid);
    copy->sdlba = cpu_to_le64(sdlba);
    copy->nr = nr - 1;
    copy->control[0] = 2;   /* format 2 */
    return cmd;
}

static void copy_range(NvmeCopySourceRangeFormat0_2 *r, uint32_t snsid,
                       uint64_t slba)
{
    memset(r, 0, sizeof(*r));
    r->sparams = cpu_to_le32(snsid);
    r->slba = cpu_to_le64(slba);
    r->nlb = 0;     /* one block */
}

/*
 * Copy with format 2: a range from another namespace, then one from the
 * destination itself, reads each from its own namespace (upstream read the
 * second from the namespace of the first).
 */
static void test_copy_source_namespace(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    NvmeCopySourceRangeFormat0_2 r[2];
    uint8_t a[512], b[512], out[1024];
    uint32_t dst, src;
    NvmeCmd cmd;

    dst = create(c, NVME_CSI_NVM, 1024, 0);
    src = create(c, NVME_CSI_NVM, 1024, 0);
    attach(c, dst, 0);
    attach(c, src, 0);
    enable_copy_formats(c);
    memset(a, 0xaa, sizeof(a));
    memset(b, 0xbb, sizeof(b));
    g_assert_cmphex(qnvme_write(c, dst, 0, 1, a, 512).status, ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_write(c, src, 0, 1, b, 512).status, ==,
                    NVME_SUCCESS);

    copy_range(&r[0], src, 0);
    copy_range(&r[1], dst, 0);
    cmd = copy_cmd(dst, 100, 2);
    g_assert_cmphex(qnvme_io(c, &cmd, r, sizeof(r), QNVME_TO_DEV).status,
                    ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_read(c, dst, 100, 2, out, 1024).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpint(out[0], ==, 0xbb);
    g_assert_cmpint(out[512], ==, 0xaa);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * A Copy whose first range names a namespace that is not attached fails
 * before it reads anything: a status, not an accounting assertion.
 */
static void test_copy_fails_first_range(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    NvmeCopySourceRangeFormat0_2 r[1];
    uint32_t dst, other;
    QNvmeResult res;
    NvmeCmd cmd;

    dst = create(c, NVME_CSI_NVM, 1024, 0);
    other = create(c, NVME_CSI_NVM, 1024, 0);
    attach(c, dst, 0);
    enable_copy_formats(c);

    copy_range(&r[0], other, 0);
    cmd = copy_cmd(dst, 0, 1);
    res = qnvme_io(c, &cmd, r, sizeof(r), QNVME_TO_DEV);
    g_assert_cmphex(QNVME_STATUS(res.status), ==, NVME_INVALID_FIELD);
    /* QEMU is still there, and so is its accounting */
    g_assert_cmphex(qnvme_flush(c, dst).status, ==, NVME_SUCCESS);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * Delete of the namespace a Copy reads from, while the Copy (127 ranges
 * from it, one read and one write each) runs on another namespace.
 */
static void test_delete_copy_source(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    g_autofree NvmeCopySourceRangeFormat0_2 *r =
        g_new0(NvmeCopySourceRangeFormat0_2, 127);
    uint32_t dst;
    int refused = 0;

    dst = create(c, NVME_CSI_NVM, 1024, 0);
    attach(c, dst, 0);
    enable_copy_formats(c);
    for (int round = 0; round < 4; round++) {
        uint32_t src = create(c, NVME_CSI_NVM, 1024, 0);
        QNvmeAsync *cp, *del;
        QNvmeResult rc, rd;
        NvmeCmd cmd;

        attach(c, src, 0);
        for (int i = 0; i < 127; i++) {
            copy_range(&r[i], src, i);
        }
        cmd = copy_cmd(dst, 0, 127);
        cp = qnvme_io_async(c, &cmd, r, 127 * sizeof(*r), QNVME_TO_DEV);
        let_run(c);
        del = delete_async(c, src);
        rd = qnvme_complete(del);
        rc = qnvme_complete(cp);
        g_assert_cmphex(rc.status, ==, NVME_SUCCESS);
        if (rd.status == NVME_NS_NOT_READY) {
            refused++;
            rd = qnvme_ns_delete(c, src);
        }
        g_assert_cmphex(rd.status, ==, NVME_SUCCESS);
    }
    g_test_message("%d of 4 deletes met the copy in flight", refused);
    g_assert_cmpint(refused, >=, 1);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * F2: an image that is not a whole number of 512-byte sectors (1000 blocks
 * of 512 + 8 bytes: 520,000 bytes).  Writing its last block and formatting
 * it to the same format must not grow the image past what the record
 * says, and NSZE stays within the recorded capacity.
 */
static void test_unaligned_image(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint8_t buf[520];
    uint32_t nsid;

    nsid = create(c, NVME_CSI_NVM, 1000, FLBAS(1, true));
    attach(c, nsid, 0);
    memset(buf, 0xa5, sizeof(buf));
    g_assert_cmphex(qnvme_write(c, nsid, 999, 1, buf, 520).status, ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_flush(c, nsid).status, ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_format(c, nsid, 1, 1, 0, 0).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpuint(id_nsze(c, nsid), ==, 1000);

    /* 16 bytes of metadata: 528,000 bytes; formatted to 512 + 8 */
    nsid = create(c, NVME_CSI_NVM, 1000, FLBAS(2, true));
    attach(c, nsid, 0);
    g_assert_cmphex(qnvme_format(c, nsid, 1, 1, 0, 0).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpuint(id_nsze(c, nsid), ==, 528000 / 520);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpuint(id_nsze(c, 1), ==, 1000);
    g_assert_cmpuint(id_nsze(c, 2), ==, 528000 / 520);
    memset(buf, 0, sizeof(buf));
    g_assert_cmphex(qnvme_read(c, 1, 999, 1, buf, 520).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpint(buf[0], ==, 0);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * F3: a Format that leaves no whole block (7 blocks of 512 bytes to 4 KiB)
 * is refused with Invalid Format and changes nothing.
 */
static void test_format_too_small(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    QNvmeResult r;
    uint32_t nsid;

    nsid = create(c, NVME_CSI_NVM, 7, 0);
    attach(c, nsid, 0);
    r = qnvme_format(c, nsid, 4, 0, 0, 0);
    g_assert_cmphex(QNVME_STATUS(r.status), ==, NVME_INVALID_FORMAT);
    g_assert_true(QNVME_DNR(r.status));
    g_assert_cmpuint(id_nsze(c, nsid), ==, 7);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpuint(id_nsze(c, nsid), ==, 7);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * With LBA Format Extension Enable set (Host Behavior Support), Format NVM
 * takes the format index from LBAFL and LBAFU (CDW10 bits 13:12).  Index
 * 16 is past NLBAF: Invalid Format, and the namespace keeps its format,
 * across a restart too.  The check once saw LBAFL only, index 0, and the
 * namespace took the empty descriptor 16 (a block size of one byte).
 */
static void test_format_index_upper_bits(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    NvmeHostBehaviorSupport hbs = { .lbafee = 1 };
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_SET_FEATURES,
        .cdw10 = cpu_to_le32(NVME_HOST_BEHAVIOR_SUPPORT),
    };
    uint8_t buf[512];
    NvmeIdNs id;
    QNvmeResult r;
    uint32_t nsid;

    nsid = create(c, NVME_CSI_NVM, 1000, 0);
    attach(c, nsid, 0);
    g_assert_cmphex(qnvme_admin(c, &cmd, &hbs, sizeof(hbs),
                                QNVME_TO_DEV).status, ==, NVME_SUCCESS);

    r = qnvme_format(c, nsid, 16, 0, 0, 0);
    g_assert_cmphex(QNVME_STATUS(r.status), ==, NVME_INVALID_FORMAT);
    g_assert_true(QNVME_DNR(r.status));
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, nsid, 0, 0,
                                   &id).status, ==, NVME_SUCCESS);
    g_assert_cmphex(id.flbas, ==, 0);
    g_assert_cmpuint(le64_to_cpu(id.nsze), ==, 1000);
    g_assert_cmphex(qnvme_read(c, nsid, 999, 1, buf, 512).status, ==,
                    NVME_SUCCESS);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpuint(id_nsze(c, nsid), ==, 1000);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * F6: a Format NVM that a controller reset cancels leaves the namespace
 * usable: not "Format In Progress" for ever.  The namespace is larger than
 * one block-layer request (2 GiB), so its Format takes more than one step;
 * the reset drains the first and cancels the next.
 */
static void test_format_cancelled_by_reset(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m;
    QNvmeCtrl *c;
    uint8_t buf[512];
    uint32_t nsid;
    QNvmeResult r;

    m = qnvme_machine_start("-device nvme,addr=%d.0,serial=inf1,"
                            "auto-ns-path=%s,auto-ns-tnvmcap=5G",
                            SLOT0, dir);
    c = qnvme_ctrl_open(m, SLOT0);
    nsid = create(c, NVME_CSI_NVM, 5 * GiB / 512, 0);
    attach(c, nsid, 0);
    for (int round = 0; round < 2; round++) {
        NvmeCmd cmd = {
            .opcode = NVME_ADM_CMD_FORMAT_NVM,
            .nsid = cpu_to_le32(nsid),
        };

        /* never collected: the reset takes the admin queue away */
        g_free(qnvme_admin_async(c, &cmd, NULL, 0, QNVME_TO_DEV));
        let_run(c);
        qnvme_ctrl_reset(c);
    }
    memset(buf, 1, sizeof(buf));
    r = qnvme_write(c, nsid, 0, 1, buf, 512);
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_format(c, nsid, 0, 0, 0, 0).status, ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_ns_delete(c, nsid).status, ==, NVME_SUCCESS);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * The store's files are written by jobs in a worker thread, one at a time,
 * in the order the commands changed the store.  One doorbell for a batch
 * of admin commands runs every handler before the first job is done.
 */
static void submit_batch(QNvmeCtrl *c, NvmeCmd *cmds, int n, uint16_t *cids)
{
    qnvme_admin_submit_batch(c, cmds, n, cids);
}

static QNvmeResult wait_batch(QNvmeCtrl *c, uint16_t cid)
{
    QNvmeResult r;

    g_assert_true(qnvme_admin_wait(c, cid, 10000, &r));
    return r;
}

static NvmeCmd attach_cmd(uint32_t nsid, bool detach)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_NS_ATTACHMENT,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(detach ? 1 : 0),
    };

    return cmd;
}

static NvmeCmd delete_cmd(uint32_t nsid)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_NS_MANAGEMENT,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(NVME_NS_MANAGEMENT_DELETE),
    };

    return cmd;
}

/* A Namespace Management create of NSZE blocks, its data at GPA. */
static NvmeCmd create_cmd(QNvmeCtrl *c, uint64_t nsze)
{
    uint8_t data[NVME_IDENTIFY_DATA_SIZE] = {};
    uint64_t gpa = guest_alloc(&c->m->alloc, sizeof(data));
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_NS_MANAGEMENT,
        .cdw10 = cpu_to_le32(NVME_NS_MANAGEMENT_CREATE),
        .dptr.prp1 = cpu_to_le64(gpa),
    };

    stq_le_p(data, nsze);
    stq_le_p(data + 8, nsze);
    qtest_memwrite(c->m->qts, gpa, data, sizeof(data));
    return cmd;
}

static int records(const char *dir)
{
    return qnvme_dir_count(dir, "ns-", ".json");
}

/*
 * Detach, attach, detach, delete in one batch: the record's last write
 * is queued behind three others and must not bring the record back after
 * the delete removed it (a record whose image is gone would stop the next
 * start).  Then Format and Delete in one batch: Delete waits for the
 * Format (Format In Progress), and the Format's record write must not
 * outlive the Delete that follows.
 */
static void test_store_jobs_in_order(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint16_t cid[4], list[2] = { cpu_to_le16(1), 0 };
    NvmeCmd cmds[4];
    uint64_t gpa = guest_alloc(&m->alloc, 4096);
    uint32_t nsid;
    QNvmeResult r;

    qtest_memwrite(m->qts, gpa, list, sizeof(list));
    for (int round = 0; round < 3; round++) {
        nsid = create(c, NVME_CSI_NVM, 2048, 0);
        attach(c, nsid, 0);
        cmds[0] = attach_cmd(nsid, true);
        cmds[1] = attach_cmd(nsid, false);
        cmds[2] = attach_cmd(nsid, true);
        cmds[3] = delete_cmd(nsid);
        for (int i = 0; i < 3; i++) {
            cmds[i].dptr.prp1 = cpu_to_le64(gpa);
        }
        submit_batch(c, cmds, 4, cid);
        for (int i = 0; i < 4; i++) {
            g_assert_cmphex(wait_batch(c, cid[i]).status, ==, NVME_SUCCESS);
        }
        g_assert_false(ns_allocated(c, nsid));
        g_assert_cmpint(records(dir), ==, 0);
    }

    nsid = create(c, NVME_CSI_ZONED, 16 * (ZONE / 512), 0);
    attach(c, nsid, 0);
    cmds[0] = (NvmeCmd) {
        .opcode = NVME_ADM_CMD_FORMAT_NVM,
        .nsid = cpu_to_le32(nsid),
    };
    cmds[1] = delete_cmd(nsid);
    submit_batch(c, cmds, 2, cid);
    g_assert_cmphex(wait_batch(c, cid[0]).status, ==, NVME_SUCCESS);
    r = wait_batch(c, cid[1]);
    if (r.status == NVME_FORMAT_IN_PROGRESS) {
        r = qnvme_ns_delete(c, nsid);
    }
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    g_assert_cmpint(records(dir), ==, 0);
    g_assert_cmpint(qnvme_dir_count(dir, "ns-", ""), ==, 0);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_false(ns_allocated(c, nsid));
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * Four creates in one batch: each takes its NSID and capacity at once, so
 * the four get four NSIDs although none is realized before the others
 * are handled.  A controller reset right behind them waits for them, as
 * for any command in flight: afterwards all four are there, and load.
 */
static void test_store_jobs_reset(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    NvmeCmd cmds[4];
    uint16_t cid[4];
    uint32_t seen = 0;

    for (int i = 0; i < 4; i++) {
        cmds[i] = create_cmd(c, 2048);
    }
    submit_batch(c, cmds, 4, cid);
    for (int i = 0; i < 4; i++) {
        QNvmeResult r = wait_batch(c, cid[i]);

        g_assert_cmphex(r.status, ==, NVME_SUCCESS);
        g_assert_cmpuint(r.dw0, >=, 1);
        g_assert_cmpuint(r.dw0, <=, 4);
        g_assert_false(seen & (1 << r.dw0));
        seen |= 1 << r.dw0;
    }

    for (int i = 0; i < 4; i++) {
        cmds[i] = create_cmd(c, 2048);
    }
    submit_batch(c, cmds, 4, cid);
    let_run(c);
    qnvme_ctrl_reset(c);
    for (uint32_t nsid = 1; nsid <= 8; nsid++) {
        g_assert_true(ns_allocated(c, nsid));
    }
    g_assert_cmpint(records(dir), ==, 8);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    for (uint32_t nsid = 1; nsid <= 8; nsid++) {
        g_assert_true(ns_allocated(c, nsid));
    }
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * SIGKILL while creates and deletes are being written: the store loads,
 * and every namespace it loads has its record and its image (the loader
 * checks the image; a record without one stops QEMU).
 */
static void test_store_jobs_kill(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);

    for (int round = 0; round < 4; round++) {
        NvmeCmd cmds[6];
        uint16_t cid[6];
        int n = 0, loaded = 0;

        for (uint32_t nsid = 1; nsid <= 8; nsid++) {
            if (ns_allocated(c, nsid) && n < 2) {
                cmds[n++] = delete_cmd(nsid);
            }
        }
        while (n < 6) {
            cmds[n++] = create_cmd(c, 2048);
        }
        submit_batch(c, cmds, n, cid);
        if (round & 1) {
            let_run(c);
        }
        qnvme_ctrl_close(c);
        m = qnvme_machine_crash_restart(m);
        c = qnvme_ctrl_open(m, SLOT0);
        for (uint32_t nsid = 1; nsid <= 16; nsid++) {
            loaded += ns_allocated(c, nsid);
        }
        g_assert_cmpint(loaded, ==, records(dir));
        /* an interrupted create may leave an image, reported at start */
        g_assert_cmpint(qnvme_dir_count(dir, "ns-", ".img"), >=, loaded);
    }
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * A controller with its own subsystem unplugged while creates are being
 * written: the unplug waits for them, the store closes, and a controller
 * plugged in again on the same store finds each namespace whose create
 * completed, records and images in step.
 */
static void test_store_jobs_unplug(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    g_autofree char *addr = g_strdup_printf("%d.0", SLOT0);
    QNvmeMachine *m = qnvme_machine_start("-device nvme,id=hp0,addr=%d.0,"
                                          "serial=inf0,auto-ns-path=%s,"
                                          "auto-ns-tnvmcap=%llu", SLOT0,
                                          dir, (unsigned long long)POOL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    g_autoptr(QDict) resp = NULL;
    NvmeCmd cmds[4];
    uint16_t cid[4];
    int found = 0;

    for (int i = 0; i < 4; i++) {
        cmds[i] = create_cmd(c, 2048);
    }
    submit_batch(c, cmds, 4, cid);
    let_run(c);
    qnvme_ctrl_close(c);
    qpci_unplug_acpi_device_test(m->qts, "hp0", SLOT0);

    resp = qtest_qmp(m->qts, "{'execute': 'device_add', 'arguments': {"
                     "'driver': 'nvme', 'id': 'hp1', 'addr': %s,"
                     "'serial': 'inf0', 'auto-ns-path': %s}}", addr, dir);
    g_assert_false(qdict_haskey(resp, "error"));
    c = qnvme_ctrl_open(m, SLOT0);
    for (uint32_t nsid = 1; nsid <= 4; nsid++) {
        found += ns_allocated(c, nsid);
    }
    g_test_message("%d of 4 creates in flight at the unplug were made", found);
    g_assert_cmpint(records(dir), ==, found);
    g_assert_cmpint(qnvme_dir_count(dir, "ns-", ".img"), ==, found);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpint(records(dir), ==, found);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/nvme-inflight/delete-during-zone-reset",
                   test_delete_during_zone_reset);
    qtest_add_func("/nvme-inflight/delete-during-dsm", test_delete_during_dsm);
    qtest_add_func("/nvme-inflight/resize-during-zone-reset",
                   test_resize_during_zone_reset);
    qtest_add_func("/nvme-inflight/delete-copy-source",
                   test_delete_copy_source);
    qtest_add_func("/nvme-copy/source-namespace", test_copy_source_namespace);
    qtest_add_func("/nvme-copy/fails-first-range",
                   test_copy_fails_first_range);
    qtest_add_func("/nvme-inflight/format-cancelled-by-reset",
                   test_format_cancelled_by_reset);
    qtest_add_func("/nvme-store-jobs/in-order", test_store_jobs_in_order);
    qtest_add_func("/nvme-store-jobs/reset", test_store_jobs_reset);
    qtest_add_func("/nvme-store-jobs/kill", test_store_jobs_kill);
    qtest_add_func("/nvme-store-jobs/unplug", test_store_jobs_unplug);
    qtest_add_func("/nvme-store-loads/unaligned-image", test_unaligned_image);
    qtest_add_func("/nvme-store-loads/format-too-small",
                   test_format_too_small);
    qtest_add_func("/nvme-store-loads/format-index-upper-bits",
                   test_format_index_upper_bits);

    return g_test_run();
}
