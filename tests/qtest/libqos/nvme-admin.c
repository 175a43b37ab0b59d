/*
 * libqos driver for the NVMe admin (and a minimal I/O) queue
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 * See the COPYING file in the top-level directory.
 *
 * The driver polls completion queues; it does not use interrupts.  Guest
 * memory for queues and data comes from the pc guest allocator, so data
 * buffers are page aligned and PRP lists are simple.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/pci/pci_regs.h"
#include "../libqtest.h"
#include "pci-pc.h"
#include "malloc-pc.h"
#include "nvme-admin.h"

#define QNVME_DEFAULT_TIMEOUT_MS 60000

/* QTestStates of QEMUs killed with SIGKILL (see crash_restart). */
static GPtrArray *killed_qemus;

static QNvmeMachine *machine_start(char *args)
{
    QNvmeMachine *m = g_new0(QNvmeMachine, 1);

    m->args = args;
    m->qts = qtest_initf("-machine pc %s", args);
    m->bus = qpci_new_pc(m->qts, NULL);
    pc_alloc_init(&m->alloc, m->qts, ALLOC_NO_FLAGS);
    return m;
}

QNvmeMachine *qnvme_machine_start(const char *fmt, ...)
{
    va_list ap;
    char *args;

    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return machine_start(args);
}

void qnvme_machine_stop(QNvmeMachine *m)
{
    if (!m) {
        return;
    }
    alloc_destroy(&m->alloc);
    qpci_free_pc(m->bus);
    qtest_quit(m->qts);
    g_free(m->args);
    g_free(m);
}

QNvmeMachine *qnvme_machine_crash_restart(QNvmeMachine *m)
{
    char *args = g_strdup(m->args);
    pid_t pid = qtest_pid(m->qts);

    /*
     * SIGKILL: no exit notifier, no device clean-up runs.  libqtest treats
     * a QEMU killed by a signal as a test failure (qtest_quit() aborts), and
     * has no other way to free a QTestState: the state of the dead process
     * is kept, reachable, until the test program ends.
     */
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    while (qtest_probe_child(m->qts)) {
        g_usleep(1000);
    }
    if (!killed_qemus) {
        killed_qemus = g_ptr_array_new();
    }
    g_ptr_array_add(killed_qemus, m->qts);
    alloc_destroy(&m->alloc);
    qpci_free_pc(m->bus);
    g_free(m->args);
    g_free(m);
    return machine_start(args);
}

QNvmeMachine *qnvme_machine_restart(QNvmeMachine *m)
{
    char *args = g_strdup(m->args);

    qnvme_machine_stop(m);
    return machine_start(args);
}

char *qnvme_machine_expect_fail(const char *fmt, ...)
{
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");
    g_autofree char *args = NULL;
    g_autofree char *cmd = NULL;
    g_autoptr(GError) err = NULL;
    char *out = NULL, *errout = NULL;
    int status = 0;
    va_list ap;

    g_assert(qemu);
    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    /*
     * If QEMU does start, QMP on stdin tells it to quit at once, and the
     * caller's assertion on the exit status fails the test.
     */
    cmd = g_strdup_printf("printf '%%s' '{\"execute\":\"qmp_capabilities\"}"
                          "{\"execute\":\"quit\"}' | %s -machine pc "
                          "-accel qtest -display none -nodefaults -S "
                          "-monitor none -qmp stdio %s", qemu, args);
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    g_assert(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL,
                          &out, &errout, &status, &err));
    g_free(out);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        g_free(errout);
        g_test_message("QEMU started although it should not: %s", args);
        return NULL;
    }
    return errout;
}

uint32_t qnvme_reg_read32(QNvmeCtrl *c, uint64_t off)
{
    return qpci_io_readl(c->dev, c->bar, off);
}

static void reg_write32(QNvmeCtrl *c, uint64_t off, uint32_t val)
{
    qpci_io_writel(c->dev, c->bar, off, val);
}

static void reg_write64(QNvmeCtrl *c, uint64_t off, uint64_t val)
{
    qpci_io_writel(c->dev, c->bar, off, val);
    qpci_io_writel(c->dev, c->bar, off + 4, val >> 32);
}

static void wait_csts(QNvmeCtrl *c, uint32_t mask, uint32_t want)
{
    gint64 end = g_get_monotonic_time() + QNVME_DEFAULT_TIMEOUT_MS * 1000;
    uint32_t csts;

    for (;;) {
        csts = qnvme_reg_read32(c, 0x1c);
        g_assert_false(csts & NVME_CSTS_FAILED);
        if ((csts & mask) == want) {
            return;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(1000);
    }
}

static void queue_alloc(QNvmeCtrl *c, QNvmeQueue *q, uint16_t size)
{
    QGuestAllocator *alloc = &c->m->alloc;

    q->size = size;
    q->sq_addr = guest_alloc(alloc, size * sizeof(NvmeCmd));
    q->cq_addr = guest_alloc(alloc, size * sizeof(NvmeCqe));
    qtest_memset(c->m->qts, q->cq_addr, 0, size * sizeof(NvmeCqe));
    q->sq_tail = 0;
    q->cq_head = 0;
    q->phase = 1;
}

static void queue_free(QNvmeCtrl *c, QNvmeQueue *q)
{
    if (q->size) {
        guest_free(&c->m->alloc, q->sq_addr);
        guest_free(&c->m->alloc, q->cq_addr);
        q->size = 0;
    }
}

static void ctrl_enable(QNvmeCtrl *c)
{
    uint32_t cc;

    queue_free(c, &c->adm);
    queue_free(c, &c->io);
    c->io_ready = false;
    c->npending = 0;
    queue_alloc(c, &c->adm, QNVME_QSIZE);

    reg_write32(c, 0x24, (QNVME_QSIZE - 1) | ((QNVME_QSIZE - 1) << 16));
    reg_write64(c, 0x28, c->adm.sq_addr);
    reg_write64(c, 0x30, c->adm.cq_addr);

    /* 64-byte submission and 16-byte completion queue entries */
    cc = 1 | (6 << 16) | (4 << 20);
    /* All supported I/O command sets, as Linux does when CAP.CSS allows. */
    if (NVME_CAP_CSS(c->cap) & NVME_CAP_CSS_IOCSS) {
        cc |= NVME_CC_CSS_ALL << 4;
    }
    reg_write32(c, 0x14, cc);
    wait_csts(c, NVME_CSTS_READY, NVME_CSTS_READY);
}

QNvmeCtrl *qnvme_ctrl_open(QNvmeMachine *m, int slot)
{
    QNvmeCtrl *c = g_new0(QNvmeCtrl, 1);

    c->m = m;
    c->dev = qpci_device_find(m->bus, QPCI_DEVFN(slot, 0));
    g_assert(c->dev);
    g_assert_cmphex(qpci_config_readw(c->dev, PCI_VENDOR_ID), ==, 0x1b36);
    qpci_device_enable(c->dev);
    c->bar = qpci_iomap(c->dev, 0, NULL);
    c->cap = qpci_io_readq(c->dev, c->bar, 0);
    c->dstrd = NVME_CAP_DSTRD(c->cap);
    c->next_cid = 1;
    ctrl_enable(c);
    return c;
}

void qnvme_ctrl_close(QNvmeCtrl *c)
{
    if (!c) {
        return;
    }
    queue_free(c, &c->adm);
    queue_free(c, &c->io);
    qpci_iounmap(c->dev, c->bar);
    g_free(c->dev);
    g_free(c);
}

void qnvme_ctrl_reset(QNvmeCtrl *c)
{
    reg_write32(c, 0x14, 0);
    wait_csts(c, NVME_CSTS_READY, 0);
    ctrl_enable(c);
}

void qnvme_ctrl_shutdown(QNvmeCtrl *c)
{
    uint32_t cc = qnvme_reg_read32(c, 0x14);

    cc &= ~(CC_SHN_MASK << CC_SHN_SHIFT);
    cc |= 1 << CC_SHN_SHIFT;
    reg_write32(c, 0x14, cc);
    wait_csts(c, CSTS_SHST_MASK << CSTS_SHST_SHIFT, NVME_CSTS_SHST_COMPLETE);
}

static uint64_t sq_doorbell(QNvmeCtrl *c, int qid)
{
    return 0x1000 + (2 * qid) * (4 << c->dstrd);
}

static uint64_t cq_doorbell(QNvmeCtrl *c, int qid)
{
    return 0x1000 + (2 * qid + 1) * (4 << c->dstrd);
}

/* Put CMD into the submission queue; the doorbell is the caller's. */
static uint16_t enqueue(QNvmeCtrl *c, QNvmeQueue *q, NvmeCmd *cmd)
{
    uint16_t cid = c->next_cid++;

    if (c->next_cid == 0xffff) {
        c->next_cid = 1;
    }
    cmd->cid = cpu_to_le16(cid);
    qtest_memwrite(c->m->qts, q->sq_addr + q->sq_tail * sizeof(NvmeCmd),
                   cmd, sizeof(*cmd));
    q->sq_tail = (q->sq_tail + 1) % q->size;
    return cid;
}

static uint16_t submit(QNvmeCtrl *c, QNvmeQueue *q, int qid, NvmeCmd *cmd)
{
    uint16_t cid = enqueue(c, q, cmd);

    reg_write32(c, sq_doorbell(c, qid), q->sq_tail);
    return cid;
}

void qnvme_admin_submit_batch(QNvmeCtrl *c, NvmeCmd *cmds, int n,
                              uint16_t *cids)
{
    QNvmeQueue *q = &c->adm;

    g_assert_cmpint(n, <, q->size);
    for (int i = 0; i < n; i++) {
        cids[i] = c->next_cid++;
        cmds[i].cid = cpu_to_le16(cids[i]);
        qtest_memwrite(c->m->qts, q->sq_addr + q->sq_tail * sizeof(NvmeCmd),
                       &cmds[i], sizeof(cmds[i]));
        q->sq_tail = (q->sq_tail + 1) % q->size;
    }
    reg_write32(c, sq_doorbell(c, 0), q->sq_tail);
}

/* Reap one completion if there is one; true if it did. */
static bool reap(QNvmeCtrl *c, QNvmeQueue *q, int qid, NvmeCqe *cqe)
{
    qtest_memread(c->m->qts, q->cq_addr + q->cq_head * sizeof(NvmeCqe),
                  cqe, sizeof(*cqe));
    if ((le16_to_cpu(cqe->status) & 1) != q->phase) {
        return false;
    }
    q->cq_head = (q->cq_head + 1) % q->size;
    if (!q->cq_head) {
        q->phase ^= 1;
    }
    reg_write32(c, cq_doorbell(c, qid), q->cq_head);
    return true;
}

static bool take_pending(QNvmeCtrl *c, uint16_t cid, NvmeCqe *cqe)
{
    for (int i = 0; i < c->npending; i++) {
        if (le16_to_cpu(c->pending[i].cid) == cid) {
            *cqe = c->pending[i];
            c->pending[i] = c->pending[--c->npending];
            return true;
        }
    }
    return false;
}

static bool wait_cid(QNvmeCtrl *c, QNvmeQueue *q, int qid, uint16_t cid,
                     int timeout_ms, QNvmeResult *res)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    NvmeCqe cqe;

    for (;;) {
        if (take_pending(c, cid, &cqe)) {
            break;
        }
        if (reap(c, q, qid, &cqe)) {
            if (le16_to_cpu(cqe.cid) == cid) {
                break;
            }
            g_assert_cmpint(c->npending, <, QNVME_MAX_PENDING);
            c->pending[c->npending++] = cqe;
            continue;
        }
        if (g_get_monotonic_time() > end) {
            return false;
        }
        g_usleep(100);
    }
    res->status = le16_to_cpu(cqe.status) >> 1;
    res->dw0 = le32_to_cpu(cqe.result);
    return true;
}

/* Guest buffer with PRPs; returns the address of the data. */
typedef struct QNvmeDma {
    uint64_t data;
    uint64_t list;
    size_t len;
} QNvmeDma;

static void dma_map(QNvmeCtrl *c, QNvmeDma *d, NvmeCmd *cmd, size_t len)
{
    QGuestAllocator *alloc = &c->m->alloc;
    size_t npages = DIV_ROUND_UP(len, QNVME_PAGE);

    memset(d, 0, sizeof(*d));
    if (!len) {
        return;
    }
    d->len = len;
    d->data = guest_alloc(alloc, npages * QNVME_PAGE);
    cmd->dptr.prp1 = cpu_to_le64(d->data);
    if (npages == 2) {
        cmd->dptr.prp2 = cpu_to_le64(d->data + QNVME_PAGE);
    } else if (npages > 2) {
        g_assert_cmpint(npages - 1, <=, QNVME_PAGE / 8);
        d->list = guest_alloc(alloc, QNVME_PAGE);
        for (size_t i = 1; i < npages; i++) {
            uint64_t e = cpu_to_le64(d->data + i * QNVME_PAGE);
            qtest_memwrite(c->m->qts, d->list + (i - 1) * 8, &e, 8);
        }
        cmd->dptr.prp2 = cpu_to_le64(d->list);
    }
}

static void dma_unmap(QNvmeCtrl *c, QNvmeDma *d)
{
    if (d->data) {
        guest_free(&c->m->alloc, d->data);
    }
    if (d->list) {
        guest_free(&c->m->alloc, d->list);
    }
}

static void io_queue_setup(QNvmeCtrl *c);

static QNvmeResult exec(QNvmeCtrl *c, QNvmeQueue *q, int qid, NvmeCmd *cmd,
                        void *buf, size_t len, QNvmeDir dir)
{
    QNvmeResult res = { 0 };
    QNvmeDma d;
    uint16_t cid;

    dma_map(c, &d, cmd, len);
    if (len) {
        if (dir == QNVME_TO_DEV) {
            qtest_memwrite(c->m->qts, d.data, buf, len);
        } else {
            qtest_memset(c->m->qts, d.data, 0, len);
        }
    }
    cid = submit(c, q, qid, cmd);
    if (!wait_cid(c, q, qid, cid, QNVME_DEFAULT_TIMEOUT_MS, &res)) {
        g_error("nvme: command opcode 0x%x (cid %u, qid %d) timed out",
                cmd->opcode, cid, qid);
    }
    if (len && dir == QNVME_FROM_DEV) {
        qtest_memread(c->m->qts, d.data, buf, len);
    }
    dma_unmap(c, &d);
    return res;
}

QNvmeResult qnvme_admin(QNvmeCtrl *c, NvmeCmd *cmd, void *buf, size_t len,
                        QNvmeDir dir)
{
    return exec(c, &c->adm, 0, cmd, buf, len, dir);
}

/* A command submitted without waiting, with its guest data buffer. */
struct QNvmeAsync {
    QNvmeCtrl *c;
    QNvmeQueue *q;
    int qid;
    uint16_t cid;
    uint8_t opcode;
    QNvmeDma d;
    void *buf;
    size_t len;
    QNvmeDir dir;
};

static QNvmeAsync *submit_async(QNvmeCtrl *c, QNvmeQueue *q, int qid,
                                NvmeCmd *cmd, void *buf, size_t len,
                                QNvmeDir dir)
{
    QNvmeAsync *a = g_new0(QNvmeAsync, 1);

    a->c = c;
    a->q = q;
    a->qid = qid;
    a->opcode = cmd->opcode;
    a->buf = buf;
    a->len = len;
    a->dir = dir;
    dma_map(c, &a->d, cmd, len);
    if (len) {
        if (dir == QNVME_TO_DEV) {
            qtest_memwrite(c->m->qts, a->d.data, buf, len);
        } else {
            qtest_memset(c->m->qts, a->d.data, 0, len);
        }
    }
    a->cid = enqueue(c, q, cmd);
    return a;
}

void qnvme_ring(QNvmeAsync *a)
{
    reg_write32(a->c, sq_doorbell(a->c, a->qid), a->q->sq_tail);
}

QNvmeAsync *qnvme_admin_prepare(QNvmeCtrl *c, NvmeCmd *cmd, void *buf,
                                size_t len, QNvmeDir dir)
{
    return submit_async(c, &c->adm, 0, cmd, buf, len, dir);
}

QNvmeAsync *qnvme_admin_async(QNvmeCtrl *c, NvmeCmd *cmd, void *buf,
                              size_t len, QNvmeDir dir)
{
    QNvmeAsync *a = qnvme_admin_prepare(c, cmd, buf, len, dir);

    qnvme_ring(a);
    return a;
}

QNvmeAsync *qnvme_io_async(QNvmeCtrl *c, NvmeCmd *cmd, void *buf, size_t len,
                           QNvmeDir dir)
{
    QNvmeAsync *a;

    if (!c->io_ready) {
        io_queue_setup(c);
    }
    a = submit_async(c, &c->io, 1, cmd, buf, len, dir);
    qnvme_ring(a);
    return a;
}

QNvmeResult qnvme_complete(QNvmeAsync *a)
{
    QNvmeResult res = { 0 };

    if (!wait_cid(a->c, a->q, a->qid, a->cid, QNVME_DEFAULT_TIMEOUT_MS,
                  &res)) {
        g_error("nvme: command opcode 0x%x (cid %u, qid %d) timed out",
                a->opcode, a->cid, a->qid);
    }
    if (a->len && a->dir == QNVME_FROM_DEV) {
        qtest_memread(a->c->m->qts, a->d.data, a->buf, a->len);
    }
    dma_unmap(a->c, &a->d);
    g_free(a);
    return res;
}

bool qnvme_done(QNvmeAsync *a)
{
    QNvmeCtrl *c = a->c;
    NvmeCqe cqe;

    while (reap(c, a->q, a->qid, &cqe)) {
        g_assert_cmpint(c->npending, <, QNVME_MAX_PENDING);
        c->pending[c->npending++] = cqe;
    }
    for (int i = 0; i < c->npending; i++) {
        if (le16_to_cpu(c->pending[i].cid) == a->cid) {
            return true;
        }
    }
    return false;
}

uint16_t qnvme_admin_submit(QNvmeCtrl *c, NvmeCmd *cmd)
{
    return submit(c, &c->adm, 0, cmd);
}

bool qnvme_admin_wait(QNvmeCtrl *c, uint16_t cid, int timeout_ms,
                      QNvmeResult *res)
{
    return wait_cid(c, &c->adm, 0, cid, timeout_ms, res);
}

QNvmeResult qnvme_identify(QNvmeCtrl *c, uint8_t cns, uint32_t nsid,
                           uint16_t cntid, uint8_t csi, void *buf4k)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_IDENTIFY,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(cns | ((uint32_t)cntid << 16)),
        .cdw11 = cpu_to_le32((uint32_t)csi << 24),
    };

    return qnvme_admin(c, &cmd, buf4k, NVME_IDENTIFY_DATA_SIZE,
                       QNVME_FROM_DEV);
}

int qnvme_nslist(QNvmeCtrl *c, uint8_t cns, uint32_t *out, int max)
{
    uint32_t list[1024];
    int n = 0;

    g_assert_cmphex(qnvme_identify(c, cns, 0, 0, 0, list).status, ==,
                    NVME_SUCCESS);
    while (n < 1024 && list[n]) {
        if (n < max) {
            out[n] = le32_to_cpu(list[n]);
        }
        n++;
    }
    return n;
}

QNvmeResult qnvme_get_log(QNvmeCtrl *c, uint8_t lid, uint32_t nsid,
                          void *buf, size_t len)
{
    uint32_t numd = len / 4 - 1;
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_GET_LOG_PAGE,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(lid | ((numd & 0xffff) << 16)),
        .cdw11 = cpu_to_le32(numd >> 16),
    };

    return qnvme_admin(c, &cmd, buf, len, QNVME_FROM_DEV);
}

QNvmeResult qnvme_set_features(QNvmeCtrl *c, uint8_t fid, uint32_t dw11)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_SET_FEATURES,
        .cdw10 = cpu_to_le32(fid),
        .cdw11 = cpu_to_le32(dw11),
    };

    return qnvme_admin(c, &cmd, NULL, 0, QNVME_TO_DEV);
}

QNvmeResult qnvme_get_features(QNvmeCtrl *c, uint8_t fid)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_GET_FEATURES,
        .cdw10 = cpu_to_le32(fid),
    };

    return qnvme_admin(c, &cmd, NULL, 0, QNVME_FROM_DEV);
}

uint16_t qnvme_aer_submit(QNvmeCtrl *c)
{
    NvmeCmd cmd = { .opcode = NVME_ADM_CMD_ASYNC_EV_REQ };

    return qnvme_admin_submit(c, &cmd);
}

QNvmeResult qnvme_ns_attach(QNvmeCtrl *c, uint32_t nsid, bool detach,
                            const uint16_t *cntlids, int n)
{
    uint16_t list[2048] = { 0 };
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_NS_ATTACHMENT,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(detach ? NVME_NS_ATTACHMENT_DETACH
                                    : NVME_NS_ATTACHMENT_ATTACH),
    };

    g_assert_cmpint(n, <, 2048);
    list[0] = cpu_to_le16(n);
    for (int i = 0; i < n; i++) {
        list[i + 1] = cpu_to_le16(cntlids[i]);
    }
    return qnvme_admin(c, &cmd, list, sizeof(list),
                       QNVME_TO_DEV);
}

QNvmeResult qnvme_ns_create_raw(QNvmeCtrl *c, uint8_t csi, void *data4k)
{
    NvmeCmd cmd = {
        .opcode = 0x0d,
        .cdw10 = cpu_to_le32(0),
        .cdw11 = cpu_to_le32((uint32_t)csi << 24),
    };

    return qnvme_admin(c, &cmd, data4k, NVME_IDENTIFY_DATA_SIZE,
                       QNVME_TO_DEV);
}

QNvmeResult qnvme_ns_create(QNvmeCtrl *c, uint8_t csi, uint64_t nsze,
                            uint64_t ncap, uint8_t flbas, uint8_t dps,
                            uint8_t nmic)
{
    g_autofree uint8_t *data = g_malloc0(NVME_IDENTIFY_DATA_SIZE);
    uint64_t v;

    /* Host-specified fields sit where Identify Namespace has them. */
    v = cpu_to_le64(nsze);
    memcpy(data + 0, &v, 8);
    v = cpu_to_le64(ncap);
    memcpy(data + 8, &v, 8);
    data[26] = flbas;
    data[29] = dps;
    data[30] = nmic;
    return qnvme_ns_create_raw(c, csi, data);
}

QNvmeResult qnvme_ns_delete(QNvmeCtrl *c, uint32_t nsid)
{
    NvmeCmd cmd = {
        .opcode = 0x0d,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(1),
    };

    return qnvme_admin(c, &cmd, NULL, 0, QNVME_TO_DEV);
}

QNvmeResult qnvme_format(QNvmeCtrl *c, uint32_t nsid, uint8_t lbaf,
                         uint8_t mset, uint8_t pi, uint8_t ses)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_FORMAT_NVM,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32((lbaf & 0xf) | ((mset & 1) << 4) |
                             ((pi & 7) << 5) | ((ses & 7) << 9) |
                             ((uint32_t)(lbaf >> 4) << 12)),
    };

    return qnvme_admin(c, &cmd, NULL, 0, QNVME_TO_DEV);
}

char *qnvme_tmpdir_new(void)
{
    char *dir = g_dir_make_tmp("qtest-nvme-XXXXXX", NULL);

    g_assert(dir);
    return dir;
}

void qnvme_tmpdir_free(char *dir)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

    g_assert_cmpint(system(cmd), ==, 0);
    g_free(dir);
}

int qnvme_dir_count(const char *dir, const char *prefix, const char *suffix)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    int n = 0;

    g_assert(d);
    while ((name = g_dir_read_name(d))) {
        if (g_str_has_prefix(name, prefix) && g_str_has_suffix(name, suffix)) {
            n++;
        }
    }
    g_dir_close(d);
    return n;
}

char *qnvme_dir_only(const char *dir, const char *prefix, const char *suffix)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    char *found = NULL;

    g_assert(d);
    while ((name = g_dir_read_name(d))) {
        if (g_str_has_prefix(name, prefix) && g_str_has_suffix(name, suffix)) {
            g_assert_null(found);
            found = g_build_filename(dir, name, NULL);
        }
    }
    g_dir_close(d);
    g_assert(found);
    return found;
}

uint64_t qnvme_cap128(const uint8_t *f)
{
    uint64_t lo, hi;

    memcpy(&lo, f, 8);
    memcpy(&hi, f + 8, 8);
    g_assert_cmpint(le64_to_cpu(hi), ==, 0);
    return le64_to_cpu(lo);
}

static void io_queue_setup(QNvmeCtrl *c)
{
    QNvmeResult r;
    NvmeCmd cmd;

    queue_alloc(c, &c->io, QNVME_QSIZE);
    cmd = (NvmeCmd) {
        .opcode = NVME_ADM_CMD_CREATE_CQ,
        .dptr.prp1 = cpu_to_le64(c->io.cq_addr),
        .cdw10 = cpu_to_le32(1 | ((QNVME_QSIZE - 1) << 16)),
        .cdw11 = cpu_to_le32(NVME_CQ_PC),
    };
    r = qnvme_admin(c, &cmd, NULL, 0, QNVME_TO_DEV);
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    cmd = (NvmeCmd) {
        .opcode = NVME_ADM_CMD_CREATE_SQ,
        .dptr.prp1 = cpu_to_le64(c->io.sq_addr),
        .cdw10 = cpu_to_le32(1 | ((QNVME_QSIZE - 1) << 16)),
        .cdw11 = cpu_to_le32(NVME_SQ_PC | (1 << 16)),
    };
    r = qnvme_admin(c, &cmd, NULL, 0, QNVME_TO_DEV);
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    c->io_ready = true;
}

QNvmeResult qnvme_io(QNvmeCtrl *c, NvmeCmd *cmd, void *buf, size_t len,
                     QNvmeDir dir)
{
    if (!c->io_ready) {
        io_queue_setup(c);
    }
    return exec(c, &c->io, 1, cmd, buf, len, dir);
}

static QNvmeResult rw(QNvmeCtrl *c, uint8_t opc, uint32_t nsid,
                      uint64_t slba, uint32_t nlb, void *buf, size_t len)
{
    NvmeCmd cmd = {
        .opcode = opc,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(slba),
        .cdw11 = cpu_to_le32(slba >> 32),
        .cdw12 = cpu_to_le32(nlb - 1),
    };

    return qnvme_io(c, &cmd, buf, len, opc == NVME_CMD_WRITE ?
                    QNVME_TO_DEV :
                    QNVME_FROM_DEV);
}

QNvmeResult qnvme_write(QNvmeCtrl *c, uint32_t nsid, uint64_t slba,
                        uint32_t nlb, const void *buf, size_t len)
{
    return rw(c, NVME_CMD_WRITE, nsid, slba, nlb, (void *)buf, len);
}

QNvmeResult qnvme_read(QNvmeCtrl *c, uint32_t nsid, uint64_t slba,
                       uint32_t nlb, void *buf, size_t len)
{
    return rw(c, NVME_CMD_READ, nsid, slba, nlb, buf, len);
}

QNvmeResult qnvme_flush(QNvmeCtrl *c, uint32_t nsid)
{
    NvmeCmd cmd = {
        .opcode = NVME_CMD_FLUSH,
        .nsid = cpu_to_le32(nsid),
    };

    return qnvme_io(c, &cmd, NULL, 0, QNVME_TO_DEV);
}
