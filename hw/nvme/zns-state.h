/*
 * QEMU NVM Express: persistent zone state
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A zoned namespace with a zone state file keeps its zones across QEMU
 * restarts and crashes, as a real ZNS drive keeps them across power
 * cycles.  The file is mapped MAP_SHARED: every zone change is a plain
 * memory store into the mapping (no system call on the I/O path), which
 * the kernel's page cache keeps if QEMU dies.  Durability points (Flush,
 * controller shutdown and reset, detach, removal, QEMU exit) msync it.
 */

#ifndef HW_NVME_ZNS_STATE_H
#define HW_NVME_ZNS_STATE_H

#include "block/aio.h"

typedef struct NvmeNamespace NvmeNamespace;
typedef struct NvmeZone NvmeZone;
typedef struct NvmeZnsState NvmeZnsState;

/*
 * Open (create or load) the zone state file of NS (zoned.zone_file) at
 * realize, once its zone geometry is known; close it at cleanup.
 */
bool nvme_zns_state_open(NvmeNamespace *ns, Error **errp);
void nvme_zns_state_close(NvmeNamespace *ns);
/*
 * Before the geometry: a namespace on the command line takes back the
 * format a Format NVM gave it, as the file's header records it.
 */
void nvme_zns_state_adopt_format(NvmeNamespace *ns);
/* The I/O path: ZONE (or every zone) changed; a store into the mapping. */
void nvme_zns_state_update(NvmeNamespace *ns, NvmeZone *zone);
void nvme_zns_state_update_all(NvmeNamespace *ns);
/* Durability points: msync now, or in a worker thread (CB gets the result) */
int nvme_zns_state_sync(NvmeNamespace *ns);
BlockAIOCB *nvme_zns_state_sync_aio(NvmeNamespace *ns,
                                    BlockCompletionFunc *cb, void *opaque);
/* The data first, then the zone state: now, or without waiting */
void nvme_zns_state_flush(NvmeNamespace *ns);
void nvme_zns_state_flush_async(NvmeNamespace *ns);
/* After a Format NVM: lay the file out for the new format */
int nvme_zns_state_reformat(NvmeNamespace *ns, Error **errp);

/*
 * Resize a zoned namespace to NR_ZONES zones, for nvme-ns-resize: prepare
 * lays a copy of the zone state file out for them; its sync makes that
 * durable in a worker thread; commit, when no Zone Reset is in flight on
 * the namespace (nvme_ns_zone_reset_busy()), copies the zones that changed
 * meanwhile, puts the copy in the file's place and resizes the zone array.
 * Commit and abort free the resize.
 */
typedef struct NvmeZnsResize NvmeZnsResize;
NvmeZnsResize *nvme_zns_resize_prepare(NvmeNamespace *ns, uint64_t nr_zones,
                                       Error **errp);
BlockAIOCB *nvme_zns_resize_sync_aio(NvmeZnsResize *r,
                                     BlockCompletionFunc *cb, void *opaque);
/* Is the resize still right for NS (not formatted since it was prepared)? */
bool nvme_zns_resize_current(NvmeZnsResize *r, NvmeNamespace *ns);
bool nvme_zns_resize_commit(NvmeZnsResize *r, NvmeNamespace *ns,
                            Error **errp);
void nvme_zns_resize_abort(NvmeZnsResize *r);

/* ns.c: the zone transitions of a shutdown (and of a power-on) */
void nvme_zoned_ns_shutdown(NvmeNamespace *ns);
/* ns.c: Format NVM of a zoned namespace, checked, then done */
uint16_t nvme_ns_zoned_format_check(NvmeNamespace *ns, uint8_t lbaf);
int nvme_ns_zoned_format(NvmeNamespace *ns, Error **errp);
/* ctrl.c: are commands in flight on NS, on any controller of its subsystem? */
bool nvme_ns_busy(NvmeNamespace *ns);
/* ctrl.c: does a Zone Reset in flight hold a zone of NS? */
bool nvme_ns_zone_reset_busy(NvmeNamespace *ns);

#endif /* HW_NVME_ZNS_STATE_H */
