/*
 * QTest testcase for the NVMe admin queue driver and the controller
 * behaviour it relies on
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
#include "hw/pci/pci_regs.h"
#include "libqos/nvme-admin.h"

#define NVME_SLOT 4

static char *make_image(const char *dir, const char *name, size_t size)
{
    char *path = g_build_filename(dir, name, NULL);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
    return path;
}

static void test_identify_ctrl(void)
{
    QNvmeMachine *m = qnvme_machine_start(
        "-device nvme,addr=%d.0,serial=adm0,mdts=5", NVME_SLOT);
    QNvmeCtrl *c = qnvme_ctrl_open(m, NVME_SLOT);
    NvmeIdCtrl id;
    QNvmeResult r;

    r = qnvme_identify(c, NVME_ID_CNS_CTRL, 0, 0, 0, &id);
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    g_assert_cmphex(le16_to_cpu(id.vid), ==,
                    qpci_config_readw(c->dev, PCI_VENDOR_ID));
    g_assert_cmphex(le16_to_cpu(id.ssvid), ==,
                    qpci_config_readw(c->dev, PCI_SUBSYSTEM_VENDOR_ID));
    g_assert_cmpint(id.mdts, ==, 5);
    g_assert_cmpint(le32_to_cpu(id.nn), ==, 256);
    g_assert_true(le16_to_cpu(id.oacs) & NVME_OACS_NMS);
    g_assert_true(le16_to_cpu(id.oacs) & NVME_OACS_FORMAT);
    g_assert_cmpint(le16_to_cpu(id.cntlid), ==, 0);
    g_assert_cmpmem(id.sn, 4, "adm0", 4);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
}

static void test_cntlid_in_subsystem(void)
{
    QNvmeMachine *m = qnvme_machine_start(
        "-device nvme-subsys,id=subsys0 "
        "-device nvme,addr=%d.0,serial=s0,subsys=subsys0 "
        "-device nvme,addr=%d.0,serial=s0,subsys=subsys0",
        NVME_SLOT, NVME_SLOT + 1);
    QNvmeCtrl *c0 = qnvme_ctrl_open(m, NVME_SLOT);
    QNvmeCtrl *c1 = qnvme_ctrl_open(m, NVME_SLOT + 1);
    NvmeIdCtrl id0, id1;
    uint16_t list[2048];

    g_assert_cmphex(qnvme_identify(c0, NVME_ID_CNS_CTRL, 0, 0, 0,
                                   &id0).status, ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_identify(c1, NVME_ID_CNS_CTRL, 0, 0, 0,
                                   &id1).status, ==, NVME_SUCCESS);
    g_assert_cmpint(le16_to_cpu(id0.cntlid), ==, 0);
    g_assert_cmpint(le16_to_cpu(id1.cntlid), ==, 1);
    /* CMIC bit 1: may be one of several controllers in the subsystem */
    g_assert_true(id0.cmic & (1 << 1));

    /* CNS 13h lists both controllers */
    g_assert_cmphex(qnvme_identify(c0, NVME_ID_CNS_CTRL_LIST, 0, 0, 0,
                                   list).status, ==, NVME_SUCCESS);
    g_assert_cmpint(le16_to_cpu(list[0]), ==, 2);
    g_assert_cmpint(le16_to_cpu(list[1]), ==, 0);
    g_assert_cmpint(le16_to_cpu(list[2]), ==, 1);

    qnvme_ctrl_close(c0);
    qnvme_ctrl_close(c1);
    qnvme_machine_stop(m);
}

static void test_invalid_opcode(void)
{
    QNvmeMachine *m = qnvme_machine_start(
        "-device nvme,addr=%d.0,serial=adm0", NVME_SLOT);
    QNvmeCtrl *c = qnvme_ctrl_open(m, NVME_SLOT);
    /* C0h: vendor specific, not implemented by QEMU */
    NvmeCmd cmd = { .opcode = 0xc0 };
    QNvmeResult r;

    r = qnvme_admin(c, &cmd, NULL, 0, QNVME_TO_DEV);
    g_assert_cmphex(QNVME_STATUS(r.status), ==, NVME_INVALID_OPCODE);
    g_assert_true(QNVME_DNR(r.status));

    /* the queue goes on working after the error */
    cmd = (NvmeCmd) { .opcode = 0x7e };
    r = qnvme_admin(c, &cmd, NULL, 0, QNVME_TO_DEV);
    g_assert_cmphex(QNVME_STATUS(r.status), ==, NVME_INVALID_OPCODE);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
}

/* Multi-page data (PRP list) written, QEMU restarted, read back. */
static void test_io_across_restart(void)
{
    char *dir = qnvme_tmpdir_new();
    g_autofree char *img = make_image(dir, "ns1.img", 4 * MiB);
    const size_t len = 64 * KiB;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc0(len);
    QNvmeMachine *m;
    QNvmeCtrl *c;
    NvmeIdNs idns;

    for (size_t i = 0; i < len; i++) {
        out[i] = (i * 7 + i / 4096) & 0xff;
    }

    m = qnvme_machine_start(
        "-drive id=d1,if=none,format=raw,file=%s "
        "-device nvme,addr=%d.0,serial=io0 "
        "-device nvme-ns,drive=d1,nsid=1", img, NVME_SLOT);
    c = qnvme_ctrl_open(m, NVME_SLOT);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, 1, 0, 0,
                                   &idns).status, ==, NVME_SUCCESS);
    g_assert_cmpint(le64_to_cpu(idns.nsze), ==, 4 * MiB / 512);
    g_assert_cmphex(qnvme_write(c, 1, 2048, len / 512, out, len).status,
                    ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_flush(c, 1).status, ==, NVME_SUCCESS);
    qnvme_ctrl_close(c);

    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, NVME_SLOT);
    g_assert_cmphex(qnvme_read(c, 1, 2048, len / 512, in, len).status,
                    ==, NVME_SUCCESS);
    g_assert_cmpmem(in, len, out, len);

    /* a read past the end of the namespace is refused */
    g_assert_cmphex(QNVME_STATUS(qnvme_read(c, 1, 4 * MiB / 512, 1,
                                            in, 512).status),
                    ==, NVME_LBA_RANGE);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(dir);
}

/*
 * Namespace Attachment of a detached static namespace raises a Namespace
 * Attribute Changed event; the Changed Namespace List names it and is
 * cleared by reading it.
 */
static void test_attach_event(void)
{
    QNvmeMachine *m = qnvme_machine_start(
        "-drive id=d1,if=none,format=raw,file=null-co://,file.read-zeroes=on "
        "-device nvme-subsys,id=subsys0 "
        "-device nvme,addr=%d.0,serial=ev0,subsys=subsys0 "
        "-device nvme-ns,drive=d1,nsid=3,detached=on", NVME_SLOT);
    QNvmeCtrl *c = qnvme_ctrl_open(m, NVME_SLOT);
    uint32_t nslist[1024];
    uint16_t cntlid = 0;
    NvmeIdNs idns;
    QNvmeResult r;
    uint16_t aer;

    /* allocated (CNS 10h) but not active (CNS 02h, CNS 00h) */
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS_ACTIVE_LIST, 0, 0, 0,
                                   nslist).status, ==, NVME_SUCCESS);
    g_assert_cmpint(nslist[0], ==, 0);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS_PRESENT_LIST, 0, 0, 0,
                                   nslist).status, ==, NVME_SUCCESS);
    g_assert_cmpint(le32_to_cpu(nslist[0]), ==, 3);
    g_assert_cmpint(nslist[1], ==, 0);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, 3, 0, 0,
                                   &idns).status, ==, NVME_SUCCESS);
    g_assert_cmpint(idns.nsze, ==, 0);

    g_assert_cmphex(qnvme_set_features(c, NVME_ASYNCHRONOUS_EVENT_CONF,
                                       1 << 8).status, ==, NVME_SUCCESS);
    r = qnvme_get_features(c, NVME_ASYNCHRONOUS_EVENT_CONF);
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    g_assert_true(r.dw0 & (1 << 8));

    aer = qnvme_aer_submit(c);
    g_assert_false(qnvme_admin_wait(c, aer, 100, &r));

    r = qnvme_ns_attach(c, 3, false, &cntlid, 1);
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    g_assert_true(qnvme_admin_wait(c, aer, 10000, &r));
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    g_assert_cmpint(r.dw0 & 0x7, ==, NVME_AER_TYPE_NOTICE);
    g_assert_cmpint((r.dw0 >> 8) & 0xff, ==,
                    NVME_AER_INFO_NOTICE_NS_ATTR_CHANGED);
    g_assert_cmpint((r.dw0 >> 16) & 0xff, ==, NVME_LOG_CHANGED_NSLIST);

    g_assert_cmphex(qnvme_get_log(c, NVME_LOG_CHANGED_NSLIST, 0xffffffff,
                                  nslist, sizeof(nslist)).status,
                    ==, NVME_SUCCESS);
    g_assert_cmpint(le32_to_cpu(nslist[0]), ==, 3);
    g_assert_cmpint(nslist[1], ==, 0);
    /* reading the log cleared it */
    g_assert_cmphex(qnvme_get_log(c, NVME_LOG_CHANGED_NSLIST, 0xffffffff,
                                  nslist, sizeof(nslist)).status,
                    ==, NVME_SUCCESS);
    g_assert_cmpint(nslist[0], ==, 0);

    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, 3, 0, 0,
                                   &idns).status, ==, NVME_SUCCESS);
    g_assert_cmpint(le64_to_cpu(idns.nsze), >, 0);
    r = qnvme_ns_attach(c, 3, false, &cntlid, 1);
    g_assert_cmphex(QNVME_STATUS(r.status), ==, NVME_NS_ALREADY_ATTACHED);
    g_assert_true(QNVME_DNR(r.status));

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
}

static void test_reset_and_shutdown(void)
{
    QNvmeMachine *m = qnvme_machine_start(
        "-device nvme,addr=%d.0,serial=rst0", NVME_SLOT);
    QNvmeCtrl *c = qnvme_ctrl_open(m, NVME_SLOT);
    NvmeIdCtrl id;

    qnvme_ctrl_reset(c);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_CTRL, 0, 0, 0,
                                   &id).status, ==, NVME_SUCCESS);
    qnvme_ctrl_shutdown(c);
    g_assert_cmphex(NVME_CSTS_SHST(qnvme_reg_read32(c, 0x1c)), ==, 2);
    qnvme_ctrl_reset(c);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_CTRL, 0, 0, 0,
                                   &id).status, ==, NVME_SUCCESS);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/nvme-admin/identify-ctrl", test_identify_ctrl);
    qtest_add_func("/nvme-admin/cntlid-in-subsystem",
                   test_cntlid_in_subsystem);
    qtest_add_func("/nvme-admin/invalid-opcode", test_invalid_opcode);
    qtest_add_func("/nvme-admin/io-across-restart", test_io_across_restart);
    qtest_add_func("/nvme-admin/attach-event", test_attach_event);
    qtest_add_func("/nvme-admin/reset-and-shutdown", test_reset_and_shutdown);

    return g_test_run();
}
