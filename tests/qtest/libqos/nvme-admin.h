/*
 * libqos driver for the NVMe admin (and a minimal I/O) queue
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 * See the COPYING file in the top-level directory.
 */

#ifndef LIBQOS_NVME_ADMIN_H
#define LIBQOS_NVME_ADMIN_H

#include "../libqtest.h"
#include "pci.h"
#include "libqos-malloc.h"
#include "block/nvme.h"

/* Direction of a command's data. */
typedef enum QNvmeDir {
    QNVME_TO_DEV,
    QNVME_FROM_DEV,
} QNvmeDir;

#define QNVME_QSIZE 32
#define QNVME_PAGE  4096

/* Status as the device reports it: CQE status field bits 15:1. */
#define QNVME_SC(st)   ((st) & 0xff)
#define QNVME_SCT(st)  (((st) >> 8) & 0x7)
#define QNVME_DNR(st)  (!!((st) & NVME_DNR))
#define QNVME_STATUS(st) ((st) & 0x7ff)

/* One QEMU process (machine "pc") with its PCI bus and guest allocator. */
typedef struct QNvmeMachine {
    QTestState *qts;
    QPCIBus *bus;
    QGuestAllocator alloc;
    char *args;
} QNvmeMachine;

typedef struct QNvmeQueue {
    uint64_t sq_addr;
    uint64_t cq_addr;
    uint16_t size;
    uint16_t sq_tail;
    uint16_t cq_head;
    uint8_t phase;
} QNvmeQueue;

#define QNVME_MAX_PENDING 64

/* One NVMe controller (PCI function) driven through polled queues. */
typedef struct QNvmeCtrl {
    QNvmeMachine *m;
    QPCIDevice *dev;
    QPCIBar bar;
    uint64_t cap;
    uint32_t dstrd;
    uint16_t next_cid;
    QNvmeQueue adm;
    QNvmeQueue io;
    bool io_ready;
    /* completions reaped while waiting for another command */
    NvmeCqe pending[QNVME_MAX_PENDING];
    int npending;
} QNvmeCtrl;

/* Result of one command. */
typedef struct QNvmeResult {
    uint16_t status;    /* bits 14:0 of NVMe status: DNR, M, CRD, SCT, SC */
    uint32_t dw0;
} QNvmeResult;

QNvmeMachine *qnvme_machine_start(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Stop QEMU gracefully (quit over QMP) so that exit-time work runs. */
void qnvme_machine_stop(QNvmeMachine *m);
/* Start a new QEMU process with the same command line. */
QNvmeMachine *qnvme_machine_restart(QNvmeMachine *m);
/* Kill QEMU with SIGKILL (a crash) and start it again. */
QNvmeMachine *qnvme_machine_crash_restart(QNvmeMachine *m);
/* Start QEMU expecting it to fail; returns its stderr (caller frees). */
char *qnvme_machine_expect_fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* Find the controller at PCI slot SLOT (function 0) and enable it. */
QNvmeCtrl *qnvme_ctrl_open(QNvmeMachine *m, int slot);
void qnvme_ctrl_close(QNvmeCtrl *c);
/* CC.EN=0, then enable again with fresh admin queues. */
void qnvme_ctrl_reset(QNvmeCtrl *c);
/* CC.SHN = normal shutdown; waits for CSTS.SHST = complete. */
void qnvme_ctrl_shutdown(QNvmeCtrl *c);
uint32_t qnvme_reg_read32(QNvmeCtrl *c, uint64_t off);

/*
 * Submit an admin command with an optional data buffer: TO_DEVICE copies
 * BUF into guest memory first, FROM_DEVICE copies it back afterwards.
 * Data may span several pages (PRP1, PRP2 or a PRP list).
 */
QNvmeResult qnvme_admin(QNvmeCtrl *c, NvmeCmd *cmd, void *buf, size_t len,
                        QNvmeDir dir);
/* Submit without waiting (e.g. an AER); returns the command id. */
uint16_t qnvme_admin_submit(QNvmeCtrl *c, NvmeCmd *cmd);
/* Submit N commands with one doorbell write; fills CIDS. */
void qnvme_admin_submit_batch(QNvmeCtrl *c, NvmeCmd *cmds, int n,
                              uint16_t *cids);
/* Wait for command CID; false on time-out (TIMEOUT_MS). */
bool qnvme_admin_wait(QNvmeCtrl *c, uint16_t cid, int timeout_ms,
                      QNvmeResult *res);

/*
 * Commands in flight: submit an admin or I/O command (with its data, as
 * qnvme_admin() and qnvme_io() take it) without waiting, and collect its
 * completion later with qnvme_complete(), which copies FROM_DEV data back
 * into BUF and frees the handle.  BUF must live until then.
 */
typedef struct QNvmeAsync QNvmeAsync;
QNvmeAsync *qnvme_admin_async(QNvmeCtrl *c, NvmeCmd *cmd, void *buf,
                              size_t len, QNvmeDir dir);
QNvmeAsync *qnvme_io_async(QNvmeCtrl *c, NvmeCmd *cmd, void *buf, size_t len,
                           QNvmeDir dir);
QNvmeResult qnvme_complete(QNvmeAsync *a);
/*
 * An admin command written into the queue, its doorbell not rung yet:
 * qnvme_ring() rings it, one qtest command (one turn of QEMU's main loop)
 * after whatever the test did before, to race it against that.
 */
QNvmeAsync *qnvme_admin_prepare(QNvmeCtrl *c, NvmeCmd *cmd, void *buf,
                                size_t len, QNvmeDir dir);
void qnvme_ring(QNvmeAsync *a);
/* Has the completion of A arrived?  Never waits; A stays to complete. */
bool qnvme_done(QNvmeAsync *a);

/* Helpers for the commands the tests use. */
QNvmeResult qnvme_identify(QNvmeCtrl *c, uint8_t cns, uint32_t nsid,
                           uint16_t cntid, uint8_t csi, void *buf4k);
/*
 * The NSIDs of an Identify namespace list (CNS 02h active, 10h allocated)
 * into OUT (at most MAX of them); returns how many the list has.
 */
int qnvme_nslist(QNvmeCtrl *c, uint8_t cns, uint32_t *out, int max);
QNvmeResult qnvme_get_log(QNvmeCtrl *c, uint8_t lid, uint32_t nsid,
                          void *buf, size_t len);
QNvmeResult qnvme_set_features(QNvmeCtrl *c, uint8_t fid, uint32_t dw11);
QNvmeResult qnvme_get_features(QNvmeCtrl *c, uint8_t fid);
uint16_t qnvme_aer_submit(QNvmeCtrl *c);
QNvmeResult qnvme_ns_attach(QNvmeCtrl *c, uint32_t nsid, bool detach,
                            const uint16_t *cntlids, int n);
/* Namespace Management create: returns status, DW0 = NSID. */
QNvmeResult qnvme_ns_create(QNvmeCtrl *c, uint8_t csi, uint64_t nsze,
                            uint64_t ncap, uint8_t flbas, uint8_t dps,
                            uint8_t nmic);
QNvmeResult qnvme_ns_create_raw(QNvmeCtrl *c, uint8_t csi, void *data4k);
QNvmeResult qnvme_ns_delete(QNvmeCtrl *c, uint32_t nsid);
QNvmeResult qnvme_format(QNvmeCtrl *c, uint32_t nsid, uint8_t lbaf,
                         uint8_t mset, uint8_t pi, uint8_t ses);

/* A temporary directory for a test's storage, and its removal. */
char *qnvme_tmpdir_new(void);
void qnvme_tmpdir_free(char *dir);
/* The number of files in DIR named PREFIX*SUFFIX. */
int qnvme_dir_count(const char *dir, const char *prefix, const char *suffix);
/* The path of the only such file (asserts there is exactly one). */
char *qnvme_dir_only(const char *dir, const char *prefix, const char *suffix);

/* 128-bit little-endian capacity fields (TNVMCAP/UNVMCAP) as uint64_t. */
uint64_t qnvme_cap128(const uint8_t *f);

/* I/O queue pair 1 (created on first use) and data commands on it. */
QNvmeResult qnvme_io(QNvmeCtrl *c, NvmeCmd *cmd, void *buf, size_t len,
                     QNvmeDir dir);
QNvmeResult qnvme_write(QNvmeCtrl *c, uint32_t nsid, uint64_t slba,
                        uint32_t nlb, const void *buf, size_t len);
QNvmeResult qnvme_read(QNvmeCtrl *c, uint32_t nsid, uint64_t slba,
                       uint32_t nlb, void *buf, size_t len);
QNvmeResult qnvme_flush(QNvmeCtrl *c, uint32_t nsid);

#endif
