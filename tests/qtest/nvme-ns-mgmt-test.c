/*
 * QTest testcase for NVMe Namespace Management and the namespace store
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/nvme-admin.h"

#define SLOT0 4
#define SLOT1 5
#define POOL (64 * MiB)
#define NS_MGMT_CREATE_OK(r) g_assert_cmphex((r).status, ==, NVME_SUCCESS)

typedef struct Store {
    char *dir;
} Store;

static Store *store_new(void)
{
    Store *s = g_new0(Store, 1);

    s->dir = qnvme_tmpdir_new();
    return s;
}

static void store_free(Store *s)
{
    qnvme_tmpdir_free(s->dir);
    g_free(s);
}

/* One controller with a store of POOL bytes. */
static QNvmeMachine *start_one(Store *s, const char *extra)
{
    return qnvme_machine_start("-device nvme,addr=%d.0,serial=mgmt0,"
                               "auto-ns-path=%s,auto-ns-tnvmcap=%llu %s",
                               SLOT0, s->dir, (unsigned long long)POOL,
                               extra ? extra : "");
}

/* Two controllers in a subsystem that owns the store. */
static QNvmeMachine *start_two(Store *s)
{
    return qnvme_machine_start("-device nvme-subsys,id=subsys0,"
                               "auto-ns-path=%s,auto-ns-tnvmcap=%llu "
                               "-device nvme,addr=%d.0,serial=sub0,"
                               "subsys=subsys0 "
                               "-device nvme,addr=%d.0,serial=sub0,"
                               "subsys=subsys0",
                               s->dir, (unsigned long long)POOL,
                               SLOT0, SLOT1);
}

static void caps(QNvmeCtrl *c, uint64_t *tnvmcap, uint64_t *unvmcap)
{
    NvmeIdCtrl id;

    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_CTRL, 0, 0, 0,
                                   &id).status, ==, NVME_SUCCESS);
    *tnvmcap = qnvme_cap128(id.tnvmcap);
    *unvmcap = qnvme_cap128(id.unvmcap);
}

static uint64_t unvmcap(QNvmeCtrl *c)
{
    uint64_t t, u;

    caps(c, &t, &u);
    return u;
}

static bool in_list(QNvmeCtrl *c, uint8_t cns, uint32_t nsid)
{
    uint32_t ids[1024];
    int n = qnvme_nslist(c, cns, ids, 1024);

    for (int i = 0; i < n; i++) {
        if (ids[i] == nsid) {
            return true;
        }
    }
    return false;
}

static uint32_t create_ok(QNvmeCtrl *c, uint64_t nsze, uint8_t flbas,
                          uint8_t nmic)
{
    QNvmeResult r = qnvme_ns_create(c, NVME_CSI_NVM, nsze, nsze, flbas, 0,
                                    nmic);

    NS_MGMT_CREATE_OK(r);
    g_assert_cmpint(r.dw0, >=, 1);
    return r.dw0;
}

static void attach_ok(QNvmeCtrl *c, uint32_t nsid, uint16_t cntlid)
{
    g_assert_cmphex(qnvme_ns_attach(c, nsid, false, &cntlid, 1).status, ==,
                    NVME_SUCCESS);
}

static void assert_status(QNvmeResult r, uint16_t status)
{
    g_assert_cmphex(QNVME_STATUS(r.status), ==, status);
    g_assert_true(QNVME_DNR(r.status));
}

/* Every create field check, in the order the issue lists them. */
static void test_create_refusals(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_one(s, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint32_t ids[4];
    NvmeCmd cmd;

    assert_status(qnvme_ns_create(c, 0, 0, 0, 0, 0, 0), NVME_INVALID_FIELD);
    assert_status(qnvme_ns_create(c, 0, 8, 16, 0, 0, 0), NVME_INVALID_FIELD);
    assert_status(qnvme_ns_create(c, 0, 16, 8, 0, 0, 0),
                  NVME_THIN_PROVISIONING_NOT_SUPPORTED);
    assert_status(qnvme_ns_create(c, 0, 8, 8, 8, 0, 0), NVME_INVALID_FORMAT);
    /* FLBAS bits 6:5 select formats 16 and up */
    assert_status(qnvme_ns_create(c, 0, 8, 8, 0x20, 0, 0),
                  NVME_INVALID_FORMAT);
    /* protection information needs metadata: format 0 has none */
    assert_status(qnvme_ns_create(c, 0, 8, 8, 0, 1, 0), NVME_INVALID_FIELD);
    /* PI type 4 does not exist */
    assert_status(qnvme_ns_create(c, 0, 8, 8, 1, 4, 0), NVME_INVALID_FIELD);
    /* NMIC: only bit 0 */
    assert_status(qnvme_ns_create(c, 0, 8, 8, 0, 0, 2), NVME_INVALID_FIELD);
    /* one block more than the pool */
    assert_status(qnvme_ns_create(c, 0, POOL / 512 + 1, POOL / 512 + 1,
                                  0, 0, 0), NVME_NS_INSUFFICIENT_CAPACITY);
    /* with 8 bytes of metadata a block, POOL / 512 blocks do not fit */
    assert_status(qnvme_ns_create(c, 0, POOL / 512, POOL / 512, 1, 0, 0),
                  NVME_NS_INSUFFICIENT_CAPACITY);
    /* a size whose byte count overflows */
    assert_status(qnvme_ns_create(c, 0, UINT64_MAX / 256, UINT64_MAX / 256,
                                  0, 0, 0), NVME_NS_INSUFFICIENT_CAPACITY);
    /* the Key Value command set is not supported */
    assert_status(qnvme_ns_create(c, 1, 8, 8, 0, 0, 0),
                  NVME_IOCS_NOT_SUPPORTED);
    /* SEL 2 is reserved */
    cmd = (NvmeCmd) { .opcode = 0x0d, .cdw10 = cpu_to_le32(2) };
    assert_status(qnvme_admin(c, &cmd, NULL, 0, QNVME_TO_DEV),
                  NVME_INVALID_FIELD);

    /* nothing was created */
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_PRESENT_LIST, ids, 4),
                    ==, 0);
    g_assert_cmpint(unvmcap(c), ==, POOL);
    g_assert_cmpint(qnvme_dir_count(s->dir, "ns-", ""), ==, 0);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

/* Without a store the pool is empty: create says so. */
static void test_no_store(void)
{
    QNvmeMachine *m = qnvme_machine_start("-device nvme,addr=%d.0,serial=ns0",
                                          SLOT0);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint64_t t, u;

    caps(c, &t, &u);
    g_assert_cmpint(t, ==, 0);
    g_assert_cmpint(u, ==, 0);
    assert_status(qnvme_ns_create(c, 0, 8, 8, 0, 0, 0),
                  NVME_NS_INSUFFICIENT_CAPACITY);
    /* no Namespace Management store, no common namespace data */
    assert_status(qnvme_identify(c, NVME_ID_CNS_NS, NVME_NSID_BROADCAST, 0, 0,
                                 &(NvmeIdNs){}), NVME_INVALID_NSID);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
}

/*
 * Identify Namespace with NSID FFFFFFFFh: the formats and capabilities a
 * create offers (nvme-cli's create-ns --block-size reads them here).
 */
static void test_common_id_ns(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_one(s, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    NvmeIdNs id;

    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, NVME_NSID_BROADCAST,
                                   0, 0, &id).status, ==, NVME_SUCCESS);
    g_assert_cmpuint(id.nlbaf, ==, 7);
    /* the allocated-namespace variant (CNS 11h) has no common form */
    assert_status(qnvme_identify(c, NVME_ID_CNS_NS_PRESENT,
                                 NVME_NSID_BROADCAST, 0, 0, &(NvmeIdNs){}),
                  NVME_INVALID_NSID);
    g_assert_cmpuint(le64_to_cpu(id.nsze), ==, 0);
    g_assert_cmphex(id.mc, ==, 0x3);
    g_assert_cmphex(id.dpc, ==, 0x1f);
    for (int i = 0; i < 8; i++) {
        static const uint16_t ms[] = { 0, 8, 16, 64 };

        g_assert_cmpuint(id.lbaf[i].ds, ==, i < 4 ? 9 : 12);
        g_assert_cmpuint(le16_to_cpu(id.lbaf[i].ms), ==, ms[i % 4]);
    }
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

static void test_capacity_arithmetic(void)
{
    static const struct {
        uint8_t flbas;
        uint64_t bytes_per_block;
    } fmts[] = {
        { 0, 512 }, { 4, 4096 }, { 1, 520 }, { 7, 4160 }, { 0x12, 528 },
    };
    Store *s = store_new();
    QNvmeMachine *m = start_one(s, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint64_t t, u, before;
    uint32_t nsids[ARRAY_SIZE(fmts)];
    NvmeIdNs idns;

    caps(c, &t, &u);
    g_assert_cmpint(t, ==, POOL);
    g_assert_cmpint(u, ==, POOL);

    for (int i = 0; i < ARRAY_SIZE(fmts); i++) {
        uint64_t nsze = 1000 + i;

        before = unvmcap(c);
        nsids[i] = create_ok(c, nsze, fmts[i].flbas, 0);
        g_assert_cmpint(before - unvmcap(c), ==,
                        nsze * fmts[i].bytes_per_block);

        /* allocated, not attached: CNS 11h reports it, CNS 00h does not */
        g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS_PRESENT, nsids[i], 0,
                                       0, &idns).status, ==, NVME_SUCCESS);
        g_assert_cmpint(le64_to_cpu(idns.nsze), ==, nsze);
        g_assert_cmpint(le64_to_cpu(idns.ncap), ==, nsze);
        g_assert_cmpint(NVME_ID_NS_FLBAS_INDEX(idns.flbas), ==,
                        fmts[i].flbas & 0xf);
        g_assert_cmpint(NVME_ID_NS_FLBAS_EXTENDED(idns.flbas), ==,
                        (fmts[i].flbas >> 4) & 1);
        g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, nsids[i], 0, 0,
                                       &idns).status, ==, NVME_SUCCESS);
        g_assert_cmpint(idns.nsze, ==, 0);
    }

    for (int i = 0; i < ARRAY_SIZE(fmts); i++) {
        before = unvmcap(c);
        g_assert_cmphex(qnvme_ns_delete(c, nsids[i]).status, ==,
                        NVME_SUCCESS);
        g_assert_cmpint(unvmcap(c) - before, ==,
                        (1000 + i) * fmts[i].bytes_per_block);
    }
    g_assert_cmpint(unvmcap(c), ==, POOL);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

static void test_lowest_free_nsid(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_one(s, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint32_t nsid;

    for (nsid = 1; nsid <= 256; nsid++) {
        g_assert_cmpint(create_ok(c, 1, 0, 0), ==, nsid);
    }
    assert_status(qnvme_ns_create(c, 0, 1, 1, 0, 0, 0),
                  NVME_NS_ID_UNAVAILABLE);

    g_assert_cmphex(qnvme_ns_delete(c, 9).status, ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_ns_delete(c, 5).status, ==, NVME_SUCCESS);
    g_assert_cmpint(create_ok(c, 1, 0, 0), ==, 5);
    g_assert_cmpint(create_ok(c, 1, 0, 0), ==, 9);
    assert_status(qnvme_ns_create(c, 0, 1, 1, 0, 0, 0),
                  NVME_NS_ID_UNAVAILABLE);
    g_assert_cmphex(qnvme_ns_delete(c, NVME_NSID_BROADCAST).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpint(qnvme_dir_count(s->dir, "ns-", ".json"), ==, 0);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

/* A static namespace takes NSID 1; the store's namespaces go around it. */
static void test_static_coexist(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_one(s,
        "-drive id=d1,if=none,format=raw,file=null-co://,file.read-zeroes=on "
        "-device nvme-ns,drive=d1,nsid=1");
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);

    g_assert_cmpint(create_ok(c, 8, 0, 0), ==, 2);
    assert_status(qnvme_ns_delete(c, 1), NVME_INVALID_FIELD);
    assert_status(qnvme_ns_delete(c, 7), NVME_INVALID_NSID);
    g_assert_cmphex(qnvme_ns_delete(c, NVME_NSID_BROADCAST).status, ==,
                    NVME_SUCCESS);
    /* delete-all leaves the static namespace alone */
    g_assert_true(in_list(c, NVME_ID_CNS_NS_ACTIVE_LIST, 1));
    g_assert_false(in_list(c, NVME_ID_CNS_NS_PRESENT_LIST, 2));

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

static void fill(uint8_t *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (i * 31 + seed * 7 + i / 512) & 0xff;
    }
}

/* Create, attach, write, restart: namespace, format, attachment and data. */
static void test_restart(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_one(s, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    const size_t len = 32 * KiB;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc(len);
    uint32_t a, b;
    NvmeIdNs idns;

    a = create_ok(c, 8192, 4, 0);           /* 4 KiB blocks, 32 MiB */
    b = create_ok(c, 4096, 0, 1);           /* 512 B blocks, shared */
    attach_ok(c, a, 0);
    attach_ok(c, b, 0);
    fill(out, len, 1);
    g_assert_cmphex(qnvme_write(c, a, 100, len / 4096, out, len).status, ==,
                    NVME_SUCCESS);
    fill(out, len, 2);
    g_assert_cmphex(qnvme_write(c, b, 7, len / 512, out, len).status, ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_ns_attach(c, b, true, (uint16_t[]){ 0 }, 1).status,
                    ==, NVME_SUCCESS);
    qnvme_ctrl_close(c);

    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_true(in_list(c, NVME_ID_CNS_NS_ACTIVE_LIST, a));
    g_assert_false(in_list(c, NVME_ID_CNS_NS_ACTIVE_LIST, b));
    g_assert_true(in_list(c, NVME_ID_CNS_NS_PRESENT_LIST, b));
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, a, 0, 0,
                                   &idns).status, ==, NVME_SUCCESS);
    g_assert_cmpint(le64_to_cpu(idns.nsze), ==, 8192);
    g_assert_cmpint(NVME_ID_NS_FLBAS_INDEX(idns.flbas), ==, 4);
    g_assert_cmpint(idns.nmic, ==, 0);
    g_assert_cmpint(unvmcap(c), ==, POOL - 8192 * 4096 - 4096 * 512);

    fill(out, len, 1);
    g_assert_cmphex(qnvme_read(c, a, 100, len / 4096, in, len).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, len, out, len);
    attach_ok(c, b, 0);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, b, 0, 0,
                                   &idns).status, ==, NVME_SUCCESS);
    g_assert_cmpint(idns.nmic, ==, 1);
    fill(out, len, 2);
    g_assert_cmphex(qnvme_read(c, b, 7, len / 512, in, len).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, len, out, len);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

/* Format NVM of a store namespace is recorded and survives a restart. */
static void test_format_persists(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_one(s, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint32_t nsid = create_ok(c, 8192, 0, 0);      /* 4 MiB */
    NvmeIdNs idns;

    attach_ok(c, nsid, 0);
    g_assert_cmphex(qnvme_format(c, nsid, 5, 0, 1, 0).status, ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, nsid, 0, 0,
                                   &idns).status, ==, NVME_SUCCESS);
    g_assert_cmpint(NVME_ID_NS_FLBAS_INDEX(idns.flbas), ==, 5);
    qnvme_ctrl_close(c);

    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, nsid, 0, 0,
                                   &idns).status, ==, NVME_SUCCESS);
    g_assert_cmpint(NVME_ID_NS_FLBAS_INDEX(idns.flbas), ==, 5);
    g_assert_cmpint(idns.dps & 7, ==, 1);
    /* 4 MiB in blocks of 4096 + 8 bytes */
    g_assert_cmpint(le64_to_cpu(idns.nsze), ==, 8192 * 512 / 4104);
    /* the capacity the namespace consumes is unchanged by a format */
    g_assert_cmpint(unvmcap(c), ==, POOL - 8192 * 512);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

/*
 * Delete while a Format NVM of the namespace runs: refused, the format
 * completes, and the namespace can be deleted afterwards.  Both commands
 * go in with one doorbell write, so the format has not finished when the
 * delete is processed.
 */
static void test_delete_during_format(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_one(s, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint32_t nsid = create_ok(c, 65536, 0, 0);
    NvmeCmd cmds[3] = {
        { .opcode = NVME_ADM_CMD_FORMAT_NVM, .nsid = cpu_to_le32(nsid),
          .cdw10 = cpu_to_le32(4) },
        { .opcode = 0x0d, .nsid = cpu_to_le32(nsid),
          .cdw10 = cpu_to_le32(1) },
        { .opcode = 0x0d, .nsid = cpu_to_le32(NVME_NSID_BROADCAST),
          .cdw10 = cpu_to_le32(1) },
    };
    uint16_t cids[3];
    QNvmeResult r;

    attach_ok(c, nsid, 0);
    qnvme_admin_submit_batch(c, cmds, 3, cids);
    g_assert_true(qnvme_admin_wait(c, cids[1], 10000, &r));
    g_assert_cmphex(QNVME_STATUS(r.status), ==, NVME_FORMAT_IN_PROGRESS);
    g_assert_true(qnvme_admin_wait(c, cids[2], 10000, &r));
    g_assert_cmphex(QNVME_STATUS(r.status), ==, NVME_FORMAT_IN_PROGRESS);
    g_assert_true(qnvme_admin_wait(c, cids[0], 10000, &r));
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);

    g_assert_true(in_list(c, NVME_ID_CNS_NS_ACTIVE_LIST, nsid));
    g_assert_cmphex(qnvme_ns_delete(c, nsid).status, ==, NVME_SUCCESS);
    g_assert_false(in_list(c, NVME_ID_CNS_NS_PRESENT_LIST, nsid));

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

static void test_shared_two_ctrls(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_two(s);
    QNvmeCtrl *c0 = qnvme_ctrl_open(m, SLOT0);
    QNvmeCtrl *c1 = qnvme_ctrl_open(m, SLOT1);
    uint8_t out[4096], in[4096];
    uint16_t both[] = { 0, 1 };
    uint16_t list[2048];
    uint32_t nsid;

    nsid = create_ok(c0, 4096, 0, 1);
    g_assert_cmphex(qnvme_ns_attach(c0, nsid, false, both, 2).status, ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_identify(c1, NVME_ID_CNS_NS_ATTACHED_CTRL_LIST,
                                   nsid, 0, 0, list).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpint(le16_to_cpu(list[0]), ==, 2);
    g_assert_cmpint(le16_to_cpu(list[1]), ==, 0);
    g_assert_cmpint(le16_to_cpu(list[2]), ==, 1);

    fill(out, sizeof(out), 3);
    g_assert_cmphex(qnvme_write(c0, nsid, 0, 8, out, sizeof(out)).status, ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_read(c1, nsid, 0, 8, in, sizeof(in)).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    qnvme_ctrl_close(c0);
    qnvme_ctrl_close(c1);

    /* both attachments come back */
    m = qnvme_machine_restart(m);
    c0 = qnvme_ctrl_open(m, SLOT0);
    c1 = qnvme_ctrl_open(m, SLOT1);
    g_assert_true(in_list(c0, NVME_ID_CNS_NS_ACTIVE_LIST, nsid));
    g_assert_true(in_list(c1, NVME_ID_CNS_NS_ACTIVE_LIST, nsid));
    g_assert_cmphex(qnvme_read(c1, nsid, 0, 8, in, sizeof(in)).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));

    qnvme_ctrl_close(c0);
    qnvme_ctrl_close(c1);
    qnvme_machine_stop(m);
    store_free(s);
}

static void test_private_refused(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_two(s);
    QNvmeCtrl *c0 = qnvme_ctrl_open(m, SLOT0);
    QNvmeCtrl *c1 = qnvme_ctrl_open(m, SLOT1);
    uint16_t both[] = { 0, 1 }, twice[] = { 1, 1 }, bad = 7;
    uint32_t nsid = create_ok(c0, 64, 0, 0);

    /* all or nothing: two controllers for a private namespace */
    assert_status(qnvme_ns_attach(c0, nsid, false, both, 2), NVME_NS_PRIVATE);
    assert_status(qnvme_ns_attach(c0, nsid, false, twice, 2),
                  NVME_NS_CTRL_LIST_INVALID);
    assert_status(qnvme_ns_attach(c0, nsid, false, &bad, 1),
                  NVME_NS_CTRL_LIST_INVALID);
    assert_status(qnvme_ns_attach(c0, nsid, false, NULL, 0),
                  NVME_NS_CTRL_LIST_INVALID);
    g_assert_false(in_list(c0, NVME_ID_CNS_NS_ACTIVE_LIST, nsid));
    g_assert_false(in_list(c1, NVME_ID_CNS_NS_ACTIVE_LIST, nsid));

    attach_ok(c1, nsid, 1);
    assert_status(qnvme_ns_attach(c0, nsid, false, &both[0], 1),
                  NVME_NS_PRIVATE);
    assert_status(qnvme_ns_attach(c0, nsid, false, &both[1], 1),
                  NVME_NS_ALREADY_ATTACHED);
    assert_status(qnvme_ns_attach(c0, nsid, true, &both[0], 1),
                  NVME_NS_NOT_ATTACHED);
    g_assert_cmphex(qnvme_ns_attach(c0, nsid, true, &both[1], 1).status, ==,
                    NVME_SUCCESS);
    attach_ok(c0, nsid, 0);

    qnvme_ctrl_close(c0);
    qnvme_ctrl_close(c1);
    qnvme_machine_stop(m);
    store_free(s);
}

static void expect_aer_nslist(QNvmeCtrl *c, uint16_t aer, const uint32_t *want,
                              int n)
{
    uint32_t log[1024];
    QNvmeResult r;

    g_assert_true(qnvme_admin_wait(c, aer, 10000, &r));
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    g_assert_cmphex(r.dw0, ==, NVME_AER_TYPE_NOTICE |
                    (NVME_AER_INFO_NOTICE_NS_ATTR_CHANGED << 8) |
                    (NVME_LOG_CHANGED_NSLIST << 16));
    g_assert_cmphex(qnvme_get_log(c, NVME_LOG_CHANGED_NSLIST, 0xffffffff,
                                  log, sizeof(log)).status, ==, NVME_SUCCESS);
    for (int i = 0; i < n; i++) {
        g_assert_cmpint(le32_to_cpu(log[i]), ==, want[i]);
    }
    g_assert_cmpint(log[n], ==, 0);
}

/*
 * Attach raises the event on the attached controller only; delete of an
 * attached namespace detaches it with the event on every controller.
 */
static void test_events_and_delete_all(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_two(s);
    QNvmeCtrl *c0 = qnvme_ctrl_open(m, SLOT0);
    QNvmeCtrl *c1 = qnvme_ctrl_open(m, SLOT1);
    uint16_t both[] = { 0, 1 };
    uint32_t a, b, c;
    uint16_t aer0, aer1;
    QNvmeResult r;

    g_assert_cmphex(qnvme_set_features(c0, NVME_ASYNCHRONOUS_EVENT_CONF,
                                       1 << 8).status, ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_set_features(c1, NVME_ASYNCHRONOUS_EVENT_CONF,
                                       1 << 8).status, ==, NVME_SUCCESS);
    a = create_ok(c0, 64, 0, 1);
    b = create_ok(c0, 64, 4, 1);
    c = create_ok(c0, 64, 0, 0);
    aer0 = qnvme_aer_submit(c0);
    aer1 = qnvme_aer_submit(c1);
    /* creating does not change what any controller has attached */
    g_assert_false(qnvme_admin_wait(c0, aer0, 200, &r));

    g_assert_cmphex(qnvme_ns_attach(c0, a, false, both, 2).status, ==,
                    NVME_SUCCESS);
    attach_ok(c0, b, 0);
    expect_aer_nslist(c0, aer0, (uint32_t[]){ a, b }, 2);
    expect_aer_nslist(c1, aer1, (uint32_t[]){ a }, 1);

    aer0 = qnvme_aer_submit(c0);
    aer1 = qnvme_aer_submit(c1);
    g_assert_cmpint(unvmcap(c0), ==, POOL - 3 * 64 * 512 + 64 * 512 -
                    64 * 4096);
    g_assert_cmphex(qnvme_ns_delete(c1, NVME_NSID_BROADCAST).status, ==,
                    NVME_SUCCESS);
    expect_aer_nslist(c0, aer0, (uint32_t[]){ a, b }, 2);
    expect_aer_nslist(c1, aer1, (uint32_t[]){ a }, 1);
    g_assert_false(in_list(c0, NVME_ID_CNS_NS_PRESENT_LIST, c));
    g_assert_cmpint(qnvme_nslist(c1, NVME_ID_CNS_NS_PRESENT_LIST, NULL, 0),
                    ==, 0);
    g_assert_cmpint(unvmcap(c1), ==, POOL);
    g_assert_cmpint(qnvme_dir_count(s->dir, "ns-", ""), ==, 0);

    qnvme_ctrl_close(c0);
    qnvme_ctrl_close(c1);
    qnvme_machine_stop(m);
    store_free(s);
}

/* Images are sparse; delete with purge off keeps the image aside. */
static void test_sparse_and_keep(void)
{
    Store *s = store_new();
    QNvmeMachine *m = qnvme_machine_start(
        "-device nvme,addr=%d.0,serial=k0,auto-ns-path=%s,"
        "auto-ns-tnvmcap=2T,auto-ns-purge=off", SLOT0, s->dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    g_autofree char *img = NULL;
    struct stat st;
    uint32_t nsid;

    nsid = create_ok(c, 1ULL << 31, 0, 0);            /* 1 TiB */
    img = qnvme_dir_only(s->dir, "ns-", ".img");
    g_assert_cmpint(stat(img, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 1ULL << 40);
    g_assert_cmpint(st.st_blocks, ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);

    g_assert_cmphex(qnvme_ns_delete(c, nsid).status, ==, NVME_SUCCESS);
    g_assert_cmpint(qnvme_dir_count(s->dir, "ns-", ""), ==, 0);
    g_assert_cmpint(qnvme_dir_count(s->dir, "deleted-ns-", ".img"), ==, 1);
    qnvme_ctrl_close(c);

    /* the kept image is never loaded again */
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_PRESENT_LIST, NULL, 0),
                    ==, 0);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

static void test_tnvmcap_rules(void)
{
    Store *s = store_new();
    g_autofree char *err = NULL;
    QNvmeMachine *m;
    QNvmeCtrl *c;
    uint64_t t, u;

    err = qnvme_machine_expect_fail("-device nvme,serial=t0,auto-ns-path=%s",
                                    s->dir);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err, "auto-ns-tnvmcap"));
    g_free(err);

    m = start_one(s, NULL);
    c = qnvme_ctrl_open(m, SLOT0);
    create_ok(c, 32 * MiB / 512, 0, 0);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);

    /* remembered */
    m = qnvme_machine_start("-device nvme,addr=%d.0,serial=t0,"
                            "auto-ns-path=%s", SLOT0, s->dir);
    c = qnvme_ctrl_open(m, SLOT0);
    caps(c, &t, &u);
    g_assert_cmpint(t, ==, POOL);
    g_assert_cmpint(u, ==, POOL - 32 * MiB);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);

    /* shrinking below what is allocated */
    err = qnvme_machine_expect_fail("-device nvme,serial=t0,auto-ns-path=%s,"
                                    "auto-ns-tnvmcap=16M", s->dir);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err, "below"));
    g_free(err);
    err = NULL;

    /* growing */
    m = qnvme_machine_start("-device nvme,addr=%d.0,serial=t0,"
                            "auto-ns-path=%s,auto-ns-tnvmcap=128M",
                            SLOT0, s->dir);
    c = qnvme_ctrl_open(m, SLOT0);
    caps(c, &t, &u);
    g_assert_cmpint(t, ==, 128 * MiB);
    g_assert_cmpint(u, ==, 96 * MiB);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

/* Make a store holding one namespace (NSID 1); return its record's path. */
static char *store_with_one(Store *s)
{
    QNvmeMachine *m = start_one(s, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);

    g_assert_cmpint(create_ok(c, 2048, 0, 0), ==, 1);
    attach_ok(c, 1, 0);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    return qnvme_dir_only(s->dir, "ns-", ".json");
}

static void expect_start_error(Store *s, const char *needle1,
                               const char *needle2)
{
    g_autofree char *err = qnvme_machine_expect_fail(
        "-device nvme,serial=d0,auto-ns-path=%s", s->dir);

    g_assert_nonnull(err);
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2))) {
        g_test_message("stderr: %s", err);
    }
    g_assert_nonnull(strstr(err, needle1));
    if (needle2) {
        g_assert_nonnull(strstr(err, needle2));
    }
}

static void rewrite(const char *path, const char *from, const char *to)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) parts = NULL;
    g_autofree char *joined = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_nonnull(strstr(text, from));
    parts = g_strsplit(text, from, 2);
    joined = g_strjoinv(to, parts);
    g_assert_true(g_file_set_contents(path, joined, -1, NULL));
}

/*
 * Damaged stores: each case damages a store holding one namespace, and
 * QEMU must refuse to start with a message naming the file and the
 * problem.  A case rewrites FROM to TO in the file (the namespace's record,
 * or store.json), or truncates it, or the image.
 */
typedef enum Damage {
    REWRITE,            /* FROM becomes TO in the file */
    HALVE,              /* the file loses its second half */
    IMAGE_4K,           /* the image is truncated to 4 KiB */
    IMAGE_GONE,         /* the image is removed */
} Damage;

typedef struct DamageCase {
    const char *name;
    bool store_json;    /* the file is store.json, not the record */
    Damage how;
    const char *from, *to;
    const char *message;
} DamageCase;

static const DamageCase damage_cases[] = {
    { "truncated", false, HALVE, NULL, NULL, "not valid JSON" },
    { "missing-key", false, REWRITE, "\"nsze\"", "\"nsze-gone\"",
      "key 'nsze' is missing" },
    { "wrong-type", false, REWRITE, "\"shared\": false", "\"shared\": \"no\"",
      "key 'shared' must be true or false" },
    { "out-of-range", false, REWRITE, "\"nsid\": 1", "\"nsid\": 4096",
      "key 'nsid' is out of range" },
    { "image-size", false, IMAGE_4K, NULL, NULL,
      "is 4096 bytes, the record says 1048576" },
    { "missing-image", false, IMAGE_GONE, NULL, NULL, "No such file" },
    { "store-record", true, REWRITE, "\"schema\": 1", "\"schema\": 7",
      "schema version 7" },
};

static void test_damaged(const void *opaque)
{
    const DamageCase *dc = opaque;
    Store *s = store_new();
    g_autofree char *rec = store_with_one(s);
    g_autofree char *meta = g_build_filename(s->dir, "store.json", NULL);
    g_autofree char *img = qnvme_dir_only(s->dir, "ns-", ".img");
    const char *file = dc->store_json ? meta : rec;
    g_autofree char *text = NULL;
    gsize len;

    switch (dc->how) {
    case REWRITE:
        rewrite(file, dc->from, dc->to);
        break;
    case HALVE:
        g_assert_true(g_file_get_contents(file, &text, &len, NULL));
        g_assert_true(g_file_set_contents(file, text, len / 2, NULL));
        break;
    case IMAGE_4K:
        g_assert_cmpint(truncate(img, 4096), ==, 0);
        break;
    case IMAGE_GONE:
        g_assert_cmpint(unlink(img), ==, 0);
        break;
    }
    expect_start_error(s, file, dc->message);
    store_free(s);
}

static void test_nsid_clash_with_static(void)
{
    Store *s = store_new();
    g_autofree char *rec = store_with_one(s);
    g_autofree char *err = qnvme_machine_expect_fail(
        "-drive id=d1,if=none,format=raw,file=null-co:// "
        "-device nvme,id=ctl0,serial=d0 -device nvme-ns,drive=d1,nsid=1 "
        "-device nvme,serial=d1,auto-ns-path=%s", s->dir);

    /* the second controller has its own implicit subsystem: no clash */
    g_assert_null(err);

    /* the store is loaded first: the static namespace is refused */
    err = qnvme_machine_expect_fail(
        "-drive id=d1,if=none,format=raw,file=null-co:// "
        "-device nvme-subsys,id=s0,auto-ns-path=%s "
        "-device nvme,id=ctl0,serial=d0,subsys=s0 "
        "-device nvme-ns,drive=d1,nsid=1,bus=ctl0", s->dir);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err, "namespace id '1' already allocated"));
    g_assert_nonnull(strstr(err, rec));
    g_free(err);

    /*
     * The store belongs to the subsystem: a controller of an nvme-subsys
     * does not take one of its own (its static namespace could not come
     * before the store's then).
     */
    err = qnvme_machine_expect_fail(
        "-drive id=d1,if=none,format=raw,file=null-co:// "
        "-device nvme-subsys,id=s0 "
        "-device nvme,id=ctl0,serial=d0,subsys=s0 "
        "-device nvme-ns,drive=d1,nsid=1,bus=ctl0 "
        "-device nvme,id=ctl1,serial=d0,subsys=s0,auto-ns-path=%s", s->dir);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err, "belongs to nvme-subsys 's0'"));
    g_assert_nonnull(strstr(err, "auto-ns-*"));
    g_free(err);

    /* ... nor one in the same directory as its subsystem's */
    err = qnvme_machine_expect_fail(
        "-device nvme-subsys,id=s0,auto-ns-path=%s "
        "-device nvme,id=ctl0,serial=d0,subsys=s0,auto-ns-path=%s",
        s->dir, s->dir);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err, "belongs to nvme-subsys 's0'"));
    store_free(s);
}

static void test_lock(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_one(s, NULL);

    expect_start_error(s, s->dir, "in use by another process");
    qnvme_machine_stop(m);
    store_free(s);
}

/* An image without a record is reported, not loaded, and not deleted. */
static void test_orphan_image(void)
{
    Store *s = store_new();
    g_autofree char *rec = store_with_one(s);
    g_autofree char *orphan = g_build_filename(
        s->dir, "ns-00000000-0000-4000-8000-000000000001.img", NULL);
    QNvmeMachine *m;
    QNvmeCtrl *c;

    g_assert_true(g_file_set_contents(orphan, "data", 4, NULL));
    m = start_one(s, NULL);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_PRESENT_LIST, NULL, 0),
                    ==, 1);
    g_assert_true(g_file_test(orphan, G_FILE_TEST_EXISTS));
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    g_assert_true(g_file_test(orphan, G_FILE_TEST_EXISTS));
    store_free(s);
}

/* Fill the file system of DIR: write FILE until it is out of space. */
static void fill_disk(const char *file)
{
    static const char block[4096];
    int fd = open(file, O_CREAT | O_WRONLY, 0600);
    ssize_t ret;

    g_assert_cmpint(fd, >=, 0);
    do {
        ret = write(fd, block, sizeof(block));
    } while (ret > 0);
    g_assert_cmpint(errno, ==, ENOSPC);
    close(fd);
}

/*
 * A full disk during create: the command fails and leaves nothing behind,
 * for a namespace of either command set.  It needs a small file system: a
 * tmpfs, which only root can mount (CI runs as root).
 */
static void test_full_disk(void)
{
    Store *s = store_new();
    g_autofree char *mount = g_strdup_printf(
        "mount -t tmpfs -o size=256k,mode=0700 qtest-nvme-full %s", s->dir);
    g_autofree char *umount = g_strdup_printf("umount %s", s->dir);
    g_autofree char *filler = g_build_filename(s->dir, "filler", NULL);
    QNvmeMachine *m;
    QNvmeCtrl *c;
    QNvmeResult r;
    uint64_t before;
    struct stat st;

    if (geteuid() != 0 || system(mount) != 0) {
        g_test_skip("needs root to mount a small tmpfs");
        store_free(s);
        return;
    }
    m = qnvme_machine_start("-device nvme,addr=%d.0,serial=full0,"
                            "auto-ns-path=%s,auto-ns-tnvmcap=%llu,"
                            "auto-ns-zone-size=1M", SLOT0, s->dir,
                            (unsigned long long)POOL);
    c = qnvme_ctrl_open(m, SLOT0);
    before = unvmcap(c);
    fill_disk(filler);

    for (uint8_t csi = NVME_CSI_NVM; csi <= NVME_CSI_ZONED; csi += 2) {
        r = qnvme_ns_create(c, csi, 2048, 2048, 0, 0, 0);
        g_assert_cmphex(QNVME_STATUS(r.status), ==, NVME_INTERNAL_DEV_ERROR);
        g_assert_cmpint(qnvme_dir_count(s->dir, "ns-", ""), ==, 0);
        g_assert_cmpint(qnvme_dir_count(s->dir, "", ".tmp"), ==, 0);
        g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_PRESENT_LIST, NULL,
                                     0), ==, 0);
        g_assert_cmpuint(unvmcap(c), ==, before);
    }

    /*
     * Room for a record but not for a zone state file: the files of a
     * zoned create are written, its realize fails (the zone state file
     * gets no blocks), and the create is undone from the job's callback.
     */
    g_assert_cmpint(stat(filler, &st), ==, 0);
    g_assert_cmpint(truncate(filler, st.st_size - 4096), ==, 0);
    r = qnvme_ns_create(c, NVME_CSI_ZONED, 2048, 2048, 0, 0, 0);
    g_assert_cmphex(QNVME_STATUS(r.status), ==, NVME_INTERNAL_DEV_ERROR);
    g_assert_cmpint(qnvme_dir_count(s->dir, "ns-", ""), ==, 0);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_PRESENT_LIST, NULL, 0),
                    ==, 0);
    g_assert_cmpuint(unvmcap(c), ==, before);

    /* with room again, the same NSID */
    g_assert_cmpint(unlink(filler), ==, 0);
    g_assert_cmpint(create_ok(c, 2048, 0, 0), ==, 1);
    g_assert_cmpint(qnvme_dir_count(s->dir, "ns-", ".json"), ==, 1);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    g_assert_cmpint(system(umount), ==, 0);
    store_free(s);
}

/*
 * A controller hot-plugged into a subsystem with a store, with auto-ns-path
 * of its own: device_add fails, and the controller must leave the
 * subsystem with it (a dangling entry was read by every command that walks
 * the subsystem's controllers: attach, delete).  A second hot-plugged
 * controller then finds the store's namespaces realized and attaches them.
 */
static void test_hotplug_ctrl(void)
{
    Store *s = store_new();
    QNvmeMachine *m = start_two(s);
    QNvmeCtrl *c0 = qnvme_ctrl_open(m, SLOT0);
    g_autoptr(QDict) resp = NULL;
    uint16_t ids[1] = { 0 };
    uint16_t list[2048];
    uint32_t nsid = create_ok(c0, 2048, 0, 1);

    resp = qtest_qmp(m->qts, "{'execute': 'device_add', 'arguments': {"
                     "'driver': 'nvme', 'id': 'hp0', 'addr': '0x7',"
                     "'serial': 'sub0', 'subsys': 'subsys0',"
                     "'auto-ns-path': %s}}", s->dir);
    g_assert_true(qdict_haskey(resp, "error"));
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"),
                            "belongs to nvme-subsys 'subsys0'"));
    qobject_unref(resp);
    /* the subsystem's controllers: the two it started with */
    g_assert_cmphex(qnvme_identify(c0, NVME_ID_CNS_CTRL_LIST, 0, 0, 0,
                                   list).status, ==, NVME_SUCCESS);
    g_assert_cmpint(le16_to_cpu(list[0]), ==, 2);

    g_assert_cmphex(qnvme_ns_attach(c0, nsid, false, ids, 1).status, ==,
                    NVME_SUCCESS);
    resp = qtest_qmp(m->qts, "{'execute': 'device_add', 'arguments': {"
                     "'driver': 'nvme', 'id': 'hp1', 'addr': '0x7',"
                     "'serial': 'sub0', 'subsys': 'subsys0'}}");
    g_assert_false(qdict_haskey(resp, "error"));
    g_assert_cmphex(qnvme_ns_delete(c0, nsid).status, ==, NVME_SUCCESS);
    g_assert_cmpint(qnvme_nslist(c0, NVME_ID_CNS_NS_PRESENT_LIST, NULL, 0),
                    ==, 0);
    qnvme_ctrl_close(c0);
    qnvme_machine_stop(m);
    store_free(s);
}

/*
 * A controller whose implicit subsystem holds the store, unplugged and
 * plugged again: the store goes with the subsystem (its lock released),
 * and the new controller finds the namespace as recorded.
 */
static void test_replug_ctrl(void)
{
    Store *s = store_new();
    QNvmeMachine *m = qnvme_machine_start("-device nvme,id=hp0,addr=%d.0,"
                                          "serial=mgmt0,auto-ns-path=%s,"
                                          "auto-ns-tnvmcap=%llu", SLOT0,
                                          s->dir, (unsigned long long)POOL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    g_autoptr(QDict) resp = NULL;
    g_autofree char *addr = g_strdup_printf("%d.0", SLOT0);
    uint32_t nsid = create_ok(c, 2048, 0, 0);

    attach_ok(c, nsid, 0);
    qnvme_ctrl_close(c);
    qpci_unplug_acpi_device_test(m->qts, "hp0", SLOT0);

    resp = qtest_qmp(m->qts, "{'execute': 'device_add', 'arguments': {"
                     "'driver': 'nvme', 'id': 'hp1', 'addr': %s,"
                     "'serial': 'mgmt0', 'auto-ns-path': %s}}",
                     addr, s->dir);
    if (qdict_haskey(resp, "error")) {
        g_test_message("device_add: %s", qdict_get_str(qdict_get_qdict(
                       resp, "error"), "desc"));
    }
    g_assert_false(qdict_haskey(resp, "error"));

    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_PRESENT_LIST, NULL, 0),
                    ==, 1);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_ACTIVE_LIST, NULL, 0),
                    ==, 1);
    g_assert_cmphex(qnvme_ns_delete(c, nsid).status, ==, NVME_SUCCESS);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_PRESENT_LIST, NULL, 0),
                    ==, 0);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    store_free(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/nvme-ns-mgmt/create-refusals", test_create_refusals);
    qtest_add_func("/nvme-ns-mgmt/no-store", test_no_store);
    qtest_add_func("/nvme-ns-mgmt/common-id-ns", test_common_id_ns);
    qtest_add_func("/nvme-ns-mgmt/capacity-arithmetic",
                   test_capacity_arithmetic);
    qtest_add_func("/nvme-ns-mgmt/lowest-free-nsid", test_lowest_free_nsid);
    qtest_add_func("/nvme-ns-mgmt/static-coexist", test_static_coexist);
    qtest_add_func("/nvme-ns-mgmt/restart", test_restart);
    qtest_add_func("/nvme-ns-mgmt/format-persists", test_format_persists);
    qtest_add_func("/nvme-ns-mgmt/delete-during-format",
                   test_delete_during_format);
    qtest_add_func("/nvme-ns-mgmt/shared-two-ctrls", test_shared_two_ctrls);
    qtest_add_func("/nvme-ns-mgmt/hotplug-ctrl", test_hotplug_ctrl);
    qtest_add_func("/nvme-ns-mgmt/replug-ctrl", test_replug_ctrl);
    qtest_add_func("/nvme-ns-mgmt/private-refused", test_private_refused);
    qtest_add_func("/nvme-ns-mgmt/events-and-delete-all",
                   test_events_and_delete_all);
    qtest_add_func("/nvme-ns-mgmt/sparse-and-keep", test_sparse_and_keep);
    qtest_add_func("/nvme-ns-mgmt/tnvmcap-rules", test_tnvmcap_rules);
    qtest_add_func("/nvme-ns-mgmt/full-disk", test_full_disk);
    for (int i = 0; i < ARRAY_SIZE(damage_cases); i++) {
        g_autofree char *path = g_strdup_printf("/nvme-ns-mgmt/damaged/%s",
                                                damage_cases[i].name);

        qtest_add_data_func(path, &damage_cases[i], test_damaged);
    }
    qtest_add_func("/nvme-ns-mgmt/damaged/nsid-clash",
                   test_nsid_clash_with_static);
    qtest_add_func("/nvme-ns-mgmt/damaged/lock", test_lock);
    qtest_add_func("/nvme-ns-mgmt/orphan-image", test_orphan_image);

    return g_test_run();
}
