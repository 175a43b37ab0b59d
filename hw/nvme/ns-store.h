/*
 * QEMU NVM Express: persistent namespace store
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The store owns the files of the run-time namespaces of one NVM
 * subsystem: one directory, a record of the store itself (store.json:
 * schema version, TNVMCAP), and per namespace a raw image and a JSON
 * record.  Records are written atomically (temporary file, fsync, rename,
 * fsync of the directory), in worker threads; a lock keeps a second QEMU
 * out.  The device model never builds paths or touches these files itself.
 */

#ifndef HW_NVME_NS_STORE_H
#define HW_NVME_NS_STORE_H

#include "qemu/bitmap.h"
#include "qemu/uuid.h"
#include "block/nvme.h"
#include "block/aio.h"

#define NVME_NS_STORE_SCHEMA 1
#define NVME_NS_STORE_MAX_NSID 256
#define NVME_NS_STORE_MAX_CTRLS 256

typedef struct NvmeNsStore NvmeNsStore;

/* The zone format of a zoned namespace (I/O command set 02h). */
typedef struct NvmeNsZoneFormat {
    uint64_t zone_size;         /* bytes */
    uint64_t zone_cap;          /* bytes */
    uint32_t descr_ext_size;    /* bytes, a multiple of 64 */
    uint32_t max_open;          /* 0: no limit */
    uint32_t max_active;        /* 0: no limit */
} NvmeNsZoneFormat;

/* What the store keeps of one namespace. */
typedef struct NvmeNsRecord {
    uint32_t nsid;
    QemuUUID uuid;
    uint8_t  csi;
    uint8_t  lbaf;      /* LBA format index */
    bool     mset;      /* metadata in extended LBAs */
    uint8_t  pi;        /* protection information type (DPS bits 2:0) */
    bool     pil;       /* PI in the first eight bytes (DPS bit 3) */
    bool     shared;    /* NMIC bit 0 */
    uint64_t nsze;      /* in logical blocks of the current format */
    uint64_t size;      /* image bytes; the capacity the namespace consumes */
    DECLARE_BITMAP(attached, NVME_NS_STORE_MAX_CTRLS);
    NvmeNsZoneFormat zoned; /* zoned namespaces only */

    /* owned by the store */
    bool creating;      /* a create whose files are being written */
    char *image;        /* file names, relative to the store directory */
    char *record;
    char *zone_file;    /* zone state, zoned namespaces only */
} NvmeNsRecord;

/* The LBA formats of nvme-ns, which a create offers too */
#define NVME_NS_DEFAULT_NLBAF 8
extern const NvmeLBAF nvme_lbaf_defaults[NVME_NS_DEFAULT_NLBAF];

/* Bytes a namespace of NSZE blocks in LBA format LBAF takes. */
bool nvme_ns_bytes(uint8_t lbaf, uint64_t nsze, uint64_t *bytes);
/* Logical blocks per zone of zone format ZF in LBA format LBAF. */
uint64_t nvme_ns_zone_blocks(const NvmeNsZoneFormat *zf, uint8_t lbaf);
/* Check a zone format; WHAT names its source in errors. */
bool nvme_ns_store_zone_fmt_check(const NvmeNsZoneFormat *zf, const char *what,
                                  Error **errp);

/*
 * Open (or create, when DIR is empty) the store in DIR and load every
 * record, each checked to describe a namespace this QEMU can make.  TNVMCAP
 * is the capacity pool in bytes; 0 means "as recorded", which a new store
 * does not accept.  With PURGE, deleting a namespace removes its image;
 * without, the image is kept aside.
 */
NvmeNsStore *nvme_ns_store_open(const char *dir, uint64_t tnvmcap,
                                bool purge, Error **errp);
/* Close the store once its queued jobs are done; the lock is released. */
void nvme_ns_store_close(NvmeNsStore *s);

const char *nvme_ns_store_dir(NvmeNsStore *s);
uint64_t nvme_ns_store_tnvmcap(NvmeNsStore *s);
uint64_t nvme_ns_store_allocated(NvmeNsStore *s);

/* The record of NSID, or NULL. */
NvmeNsRecord *nvme_ns_store_get(NvmeNsStore *s, uint32_t nsid);
/* The record with the lowest NSID above NSID, or NULL. */
NvmeNsRecord *nvme_ns_store_next(NvmeNsStore *s, uint32_t nsid);
/* Absolute path of the record of REC, for messages; the caller frees it. */
char *nvme_ns_store_record_path(NvmeNsStore *s, const NvmeNsRecord *rec);
/* Open the image of REC (raw, read-write); a new reference. */
BlockDriverState *nvme_ns_store_open_image(NvmeNsStore *s,
                                           const NvmeNsRecord *rec,
                                           Error **errp);
/* Absolute path of the zone state file of REC, or NULL; the caller frees. */
char *nvme_ns_store_zone_file_path(NvmeNsStore *s, const NvmeNsRecord *rec);

/*
 * Changes.  Each changes the store in memory at once; the files follow in
 * the background, in the order the changes were made, and CB (when not
 * NULL) gets OPAQUE and 0 once the change is durable, or a negative errno
 * (the error was reported).  A store whose files failed to follow a
 * change, but for a create, is failed: it takes no create until restart.
 */
bool nvme_ns_store_failed(NvmeNsStore *s);

/*
 * Create a namespace from TMPL (nsid, csi, format, sharing, size, zone
 * format): a new sparse image, for a zoned namespace an empty zone state
 * file (initialised when the namespace is realized), and its record, in
 * that order.  Its NSID and capacity are taken at once.  If creating the
 * files fails, nothing is left behind, the NSID and capacity are free
 * again, and the returned record is freed before CB runs.
 */
NvmeNsRecord *nvme_ns_store_create(NvmeNsStore *s, const NvmeNsRecord *tmpl,
                                   BlockCompletionFunc *cb, void *opaque);
/*
 * Undo a create whose files are complete, when its namespace cannot be
 * realized: the record and every file go, nothing is kept aside.
 */
void nvme_ns_store_abort(NvmeNsStore *s, uint32_t nsid,
                         BlockCompletionFunc *cb, void *opaque);
/* Attach REC to (or detach it from) the NR controllers CNTLIDS (LE). */
void nvme_ns_store_set_attached(NvmeNsStore *s, NvmeNsRecord *rec,
                                const uint16_t *cntlids, int nr, bool attach,
                                BlockCompletionFunc *cb, void *opaque);
/* REC's new format after a Format NVM, and its size in the new blocks. */
void nvme_ns_store_set_format(NvmeNsStore *s, NvmeNsRecord *rec,
                              uint8_t lbaf, bool mset, uint8_t pi, bool pil,
                              uint64_t nsze, BlockCompletionFunc *cb,
                              void *opaque);
/*
 * REC's new SIZE in bytes (NSZE blocks), which the capacity accounting
 * follows; the caller resizes the image (before a growth, after a
 * shrink, so that the image is never smaller than its record says).
 */
void nvme_ns_store_set_size(NvmeNsStore *s, NvmeNsRecord *rec, uint64_t size,
                            uint64_t nsze, BlockCompletionFunc *cb,
                            void *opaque);
/* Remove the record, then remove (or keep aside) the image and zone file. */
void nvme_ns_store_delete(NvmeNsStore *s, uint32_t nsid,
                          BlockCompletionFunc *cb, void *opaque);

#endif /* HW_NVME_NS_STORE_H */
