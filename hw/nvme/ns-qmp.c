/*
 * QEMU NVM Express: the namespace store from the host (QMP)
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QMP commands that see and change a subsystem's namespace store while
 * the guest runs (qapi/nvme.json), the NVME_NAMESPACE_CHANGED event for
 * every change, whoever made it, and the resize of a namespace: by
 * nvme-ns-resize for a namespace of the store, by block_resize for a
 * static one.  A host change goes through the same checks, the same store
 * operations and the same notification of the controllers (Namespace
 * Attribute Changed, Changed Namespace List) as the guest's command.
 *
 * The commands wait for the store's files in a nested event loop of the
 * main thread (AIO_WAIT_WHILE): a few milliseconds of file syncs.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qapi/qapi-commands-nvme.h"
#include "qapi/qapi-events-nvme.h"
#include "qapi/util.h"
#include "hw/qdev-core.h"
#include "qom/object.h"
#include "block/aio-wait.h"
#include "system/block-backend.h"

#include "nvme.h"
#include "trace.h"

/* How events and errors name SUBSYS: see qapi/nvme.json */
char *nvme_ns_qmp_subsys_name(NvmeSubsystem *subsys)
{
    NvmeCtrl *n;

    if (DEVICE(subsys)->id) {
        return g_strdup(DEVICE(subsys)->id);
    }
    /* an implicit subsystem: its controller's */
    n = nvme_subsys_ctrl(subsys, 0);
    if (n && DEVICE(n)->id) {
        return g_strdup(DEVICE(n)->id);
    }
    return object_get_canonical_path(OBJECT(subsys));
}

void nvme_ns_event(NvmeSubsystem *subsys, uint32_t nsid, int change,
                   bool guest, int cntlid, const uint16_t *cntlids, int nr)
{
    g_autofree char *name = nvme_ns_qmp_subsys_name(subsys);
    uint16List *list = NULL, **tail = &list;

    for (int i = 0; i < nr; i++) {
        QAPI_LIST_APPEND(tail, le16_to_cpu(cntlids[i]));
    }
    trace_pci_nvme_ns_qmp_event(name, nsid, change, cntlid);
    qapi_event_send_nvme_namespace_changed(name, nsid, change,
                                           guest ? NVME_CHANGE_ORIGIN_GUEST :
                                                   NVME_CHANGE_ORIGIN_HOST,
                                           cntlid >= 0, cntlid, !!list, list);
    qapi_free_uint16List(list);
}

/* The subsystem NAME names, which has a store. */
static NvmeSubsystem *qmp_subsys(const char *name, Error **errp)
{
    Object *obj = object_resolve_path_component(
                      machine_get_container("peripheral"), name);
    NvmeSubsystem *subsys = NULL;

    if (obj && object_dynamic_cast(obj, TYPE_NVME_SUBSYS)) {
        subsys = NVME_SUBSYS(obj);
    } else if (obj && object_dynamic_cast(obj, TYPE_NVME)) {
        subsys = NVME(obj)->subsys;
    }
    if (!subsys) {
        error_setg(errp, "'%s' is neither an nvme-subsys nor an nvme device",
                   name);
        return NULL;
    }
    if (!subsys->store) {
        error_setg(errp, "NVMe subsystem '%s' has no namespace store "
                   "(auto-ns-path)", name);
        return NULL;
    }
    return subsys;
}

/* Namespace NSID of the store of SUBSYS (NAME in messages). */
static NvmeNamespace *qmp_ns(NvmeSubsystem *subsys, const char *name,
                             uint32_t nsid, Error **errp)
{
    NvmeNamespace *ns = nsid && nsid <= NVME_MAX_NAMESPACES ?
                        nvme_subsys_ns(subsys, nsid) : NULL;

    if (!ns || !ns->store_rec) {
        error_setg(errp, "NVMe subsystem '%s' has no namespace %" PRIu32
                   " in its namespace store", name, nsid);
        return NULL;
    }
    return ns;
}

/* Waiting for the store's jobs */
typedef struct QmpWait {
    bool done;
    int ret;
} QmpWait;

static void qmp_wait_cb(void *opaque, int ret)
{
    QmpWait *w = opaque;

    w->ret = ret;
    w->done = true;
    aio_wait_kick();
}

static int qmp_wait(QmpWait *w)
{
    AIO_WAIT_WHILE(NULL, !w->done);
    w->done = false;
    return w->ret;
}

/* The LE controller list of LIST; false (ERRP set) if one is not there. */
static bool qmp_ctrls(NvmeSubsystem *subsys, const char *name,
                      uint16List *list, uint16_t **ids, int *nr,
                      Error **errp)
{
    int n = 0;

    for (uint16List *l = list; l; l = l->next) {
        n++;
    }
    *ids = g_new0(uint16_t, MAX(n, 1));
    *nr = 0;
    for (uint16List *l = list; l; l = l->next) {
        if (l->value >= NVME_MAX_CONTROLLERS ||
            !nvme_subsys_ctrl(subsys, l->value)) {
            error_setg(errp, "NVMe subsystem '%s' has no controller %u", name,
                       l->value);
            goto fail;
        }
        for (int i = 0; i < *nr; i++) {
            if (le16_to_cpu((*ids)[i]) == l->value) {
                error_setg(errp, "controller %u is listed twice", l->value);
                goto fail;
            }
        }
        (*ids)[(*nr)++] = cpu_to_le16(l->value);
    }
    return true;

fail:
    g_free(*ids);
    *ids = NULL;
    return false;
}

/*
 * Attach NS to (or detach it from) the NR controllers IDS (LE), as a
 * Namespace Attachment does: every controller checked first, then each
 * told, then the record written.
 */
static bool qmp_attachment(NvmeSubsystem *subsys, const char *name,
                           NvmeNamespace *ns, const uint16_t *ids, int nr,
                           bool attach, Error **errp)
{
    uint32_t nsid = ns->params.nsid;
    QmpWait w = {};

    for (int i = 0; i < nr; i++) {
        uint16_t c = le16_to_cpu(ids[i]);
        NvmeCtrl *ctrl = nvme_subsys_ctrl(subsys, c);
        bool on = nvme_ns(ctrl, nsid);

        if (!attach) {
            if (!on) {
                error_setg(errp, "namespace %" PRIu32 " is not attached to "
                           "controller %u", nsid, c);
                return false;
            }
            continue;
        }
        if (on) {
            error_setg(errp, "namespace %" PRIu32 " is attached to "
                       "controller %u already", nsid, c);
            return false;
        }
        if ((ns->attached || i > 0) && !ns->params.shared) {
            error_setg(errp, "namespace %" PRIu32 " is private: it can be "
                       "attached to one controller", nsid);
            return false;
        }
        /* as Namespace Attachment: a host that enabled NVM only */
        if (ns->csi == NVME_CSI_ZONED &&
            NVME_CC_EN(ldl_le_p(&ctrl->bar.cc)) &&
            NVME_CC_CSS(ldl_le_p(&ctrl->bar.cc)) != NVME_CC_CSS_ALL) {
            error_setg(errp, "controller %u was enabled without the Zoned "
                       "command set", c);
            return false;
        }
    }

    for (int i = 0; i < nr; i++) {
        nvme_ns_attach_notify(nvme_subsys_ctrl(subsys, le16_to_cpu(ids[i])),
                              ns, attach);
    }
    nvme_ns_store_set_attached(subsys->store, ns->store_rec, ids, nr, attach,
                               qmp_wait_cb, &w);
    if (qmp_wait(&w) < 0) {
        error_setg(errp, "writing the record of namespace %" PRIu32 " in %s "
                   "failed", nsid, nvme_ns_store_dir(subsys->store));
        return false;
    }
    nvme_ns_event(subsys, nsid, attach ? NVME_NAMESPACE_CHANGE_ATTACHED :
                  NVME_NAMESPACE_CHANGE_DETACHED, false, -1, ids, nr);
    return true;
}

static void qmp_ns_attachment(const char *name, uint32_t nsid,
                              uint16List *controllers, bool attach,
                              Error **errp)
{
    NvmeSubsystem *subsys = qmp_subsys(name, errp);
    g_autofree uint16_t *ids = NULL;
    NvmeNamespace *ns;
    int nr;

    if (!subsys) {
        return;
    }
    ns = qmp_ns(subsys, name, nsid, errp);
    if (!ns || !qmp_ctrls(subsys, name, controllers, &ids, &nr, errp)) {
        return;
    }
    if (!nr) {
        error_setg(errp, "no controllers");
        return;
    }
    qmp_attachment(subsys, name, ns, ids, nr, attach, errp);
}

void qmp_nvme_ns_attach(const char *subsys, uint32_t nsid,
                        uint16List *controllers, Error **errp)
{
    qmp_ns_attachment(subsys, nsid, controllers, true, errp);
}

void qmp_nvme_ns_detach(const char *subsys, uint32_t nsid,
                        uint16List *controllers, Error **errp)
{
    qmp_ns_attachment(subsys, nsid, controllers, false, errp);
}

/* The LBA format of nvme-ns with BLOCK_SIZE and METADATA_SIZE, or -1. */
static int qmp_lbaf(uint32_t block_size, uint16_t metadata_size)
{
    for (int i = 0; i < NVME_NS_DEFAULT_NLBAF; i++) {
        if (1ULL << nvme_lbaf_defaults[i].ds == block_size &&
            nvme_lbaf_defaults[i].ms == metadata_size) {
            return i;
        }
    }
    return -1;
}

/* A refusal of the checks a guest's create goes through, in words */
static void qmp_create_refused(uint16_t status, Error **errp)
{
    switch (status & 0x7ff) {
    case NVME_NS_INSUFFICIENT_CAPACITY:
        error_setg(errp, "the namespace store has not enough free capacity");
        break;
    case NVME_NS_ID_UNAVAILABLE:
        error_setg(errp, "the namespace ID is taken, or none is free");
        break;
    case NVME_THIN_PROVISIONING_NOT_SUPPORTED:
        error_setg(errp, "thin provisioning is not supported");
        break;
    default:
        error_setg(errp, "invalid parameters (NVMe status 0x%x)",
                   status & 0x7ff);
        break;
    }
}

NvmeNsCreateResult *qmp_nvme_ns_create(const char *name, uint64_t size,
                                       bool has_block_size,
                                       uint32_t block_size,
                                       bool has_metadata_size,
                                       uint16_t metadata_size,
                                       bool has_lbaf, uint8_t lbaf,
                                       bool has_pi, uint8_t pi,
                                       bool has_shared, bool shared,
                                       bool has_command_set,
                                       NvmeCommandSet command_set,
                                       bool has_nsid, uint32_t nsid,
                                       bool has_attach, uint16List *attach,
                                       Error **errp)
{
    NvmeSubsystem *subsys = qmp_subsys(name, errp);
    uint8_t csi = has_command_set && command_set == NVME_COMMAND_SET_ZONED ?
                  NVME_CSI_ZONED : NVME_CSI_NVM;
    g_autofree uint16_t *ids = NULL;
    g_autofree char *uuid = NULL;
    NvmeNsCreateResult *res;
    NvmeNsRecord tmpl, *rec;
    NvmeNamespace *ns;
    NvmeCtrl *n;
    NvmeIdNs id = {};
    QmpWait w = {};
    uint64_t block;
    uint16_t status;
    int nr;

    if (!subsys || !qmp_ctrls(subsys, name, attach, &ids, &nr, errp)) {
        return NULL;
    }
    n = nvme_subsys_ctrl(subsys, 0);
    for (int i = 0; !n && i < NVME_MAX_CONTROLLERS; i++) {
        n = nvme_subsys_ctrl(subsys, i);
    }
    if (!n) {
        error_setg(errp, "NVMe subsystem '%s' has no controller", name);
        return NULL;
    }

    if (has_lbaf && (has_block_size || has_metadata_size)) {
        error_setg(errp, "give lbaf, or block-size and metadata-size");
        return NULL;
    }
    if (!has_lbaf) {
        int i = qmp_lbaf(has_block_size ? block_size : 512,
                         has_metadata_size ? metadata_size : 0);

        if (i < 0) {
            error_setg(errp, "no LBA format has a block size of %" PRIu32
                       " bytes with %u bytes of metadata",
                       has_block_size ? block_size : 512,
                       has_metadata_size ? metadata_size : 0);
            return NULL;
        }
        lbaf = i;
    } else if (lbaf >= NVME_NS_DEFAULT_NLBAF) {
        error_setg(errp, "lbaf must be below %d", NVME_NS_DEFAULT_NLBAF);
        return NULL;
    }
    if (has_pi && pi > NVME_ID_NS_DPS_TYPE_3) {
        error_setg(errp, "pi must be 0 to 3");
        return NULL;
    }
    if (has_pi && pi && !nvme_lbaf_defaults[lbaf].ms) {
        error_setg(errp, "protection information needs metadata");
        return NULL;
    }
    block = (1ULL << nvme_lbaf_defaults[lbaf].ds) + nvme_lbaf_defaults[lbaf].ms;
    if (!size || size % block) {
        error_setg(errp, "size must be a positive multiple of %" PRIu64
                   " bytes", block);
        return NULL;
    }
    if (csi == NVME_CSI_ZONED &&
        (size / block) % nvme_ns_zone_blocks(&subsys->zone_fmt, lbaf)) {
        error_setg(errp, "a zoned namespace is a whole number of zones of "
                   "%" PRIu64 " bytes", subsys->zone_fmt.zone_size);
        return NULL;
    }
    if (has_nsid && (!nsid || nsid > NVME_MAX_NAMESPACES)) {
        error_setg(errp, "nsid must be 1 to %d", NVME_MAX_NAMESPACES);
        return NULL;
    }

    /* the fields of a guest's create, and the same checks */
    id.nsze = id.ncap = cpu_to_le64(size / block);
    id.flbas = (lbaf & 0xf) | (lbaf >> 4) << 5;
    id.dps = has_pi ? pi : 0;
    id.nmic = has_shared && shared ? NVME_ID_NS_IND_NMIC_SHRNS : 0;
    status = nvme_ns_mgmt_create_check(subsys, &id, csi, has_nsid ? nsid : 0,
                                       &tmpl);
    if (status) {
        qmp_create_refused(status, errp);
        return NULL;
    }
    if (nr > 1 && !tmpl.shared) {
        error_setg(errp, "a private namespace can be attached to one "
                   "controller");
        return NULL;
    }
    for (int i = 0; csi == NVME_CSI_ZONED && i < nr; i++) {
        NvmeCtrl *ctrl = nvme_subsys_ctrl(subsys, le16_to_cpu(ids[i]));
        uint32_t cc = ldl_le_p(&ctrl->bar.cc);

        /* refused before anything is made: see qmp_attachment() */
        if (NVME_CC_EN(cc) && NVME_CC_CSS(cc) != NVME_CC_CSS_ALL) {
            error_setg(errp, "controller %u was enabled without the Zoned "
                       "command set", le16_to_cpu(ids[i]));
            return NULL;
        }
    }
    if (nvme_ns_store_failed(subsys->store)) {
        error_setg(errp, "the namespace store in %s failed earlier: it takes "
                   "no namespace until QEMU restarts",
                   nvme_ns_store_dir(subsys->store));
        return NULL;
    }

    rec = nvme_ns_store_create(subsys->store, &tmpl, qmp_wait_cb, &w);
    if (qmp_wait(&w) < 0) {
        error_setg(errp, "creating the files of the namespace in %s failed",
                   nvme_ns_store_dir(subsys->store));
        return NULL;
    }
    ns = nvme_ns_mgmt_realize_ns(n, rec, errp);
    if (!ns) {
        nvme_ns_store_abort(subsys->store, tmpl.nsid, qmp_wait_cb, &w);
        qmp_wait(&w);
        return NULL;
    }
    nvme_ns_event(subsys, tmpl.nsid, NVME_NAMESPACE_CHANGE_CREATED, false, -1,
                  NULL, 0);
    /* before the attachment waits: the guest may delete it meanwhile */
    uuid = qemu_uuid_unparse_strdup(&rec->uuid);

    if (nr && !qmp_attachment(subsys, name, ns, ids, nr, true, errp)) {
        return NULL;
    }

    res = g_new0(NvmeNsCreateResult, 1);
    res->nsid = tmpl.nsid;
    res->uuid = g_steal_pointer(&uuid);
    return res;
}

void qmp_nvme_ns_delete(const char *name, uint32_t nsid, Error **errp)
{
    NvmeSubsystem *subsys = qmp_subsys(name, errp);
    NvmeNamespace *ns;
    QmpWait w = {};

    if (!subsys) {
        return;
    }
    ns = qmp_ns(subsys, name, nsid, errp);
    if (!ns) {
        return;
    }
    switch (nvme_ns_mgmt_delete_check(ns)) {
    case NVME_SUCCESS:
        break;
    case NVME_FORMAT_IN_PROGRESS:
        error_setg(errp, "namespace %" PRIu32 " is being formatted", nsid);
        return;
    default:
        error_setg(errp, "commands are in flight on namespace %" PRIu32
                   ": try again", nsid);
        return;
    }
    nvme_ns_mgmt_unlink(subsys, ns, qmp_wait_cb, &w);
    nvme_ns_mgmt_unparent(ns);
    if (qmp_wait(&w) < 0) {
        error_setg(errp, "removing the files of namespace %" PRIu32 " in %s "
                   "failed", nsid, nvme_ns_store_dir(subsys->store));
        return;
    }
    nvme_ns_event(subsys, nsid, NVME_NAMESPACE_CHANGE_DELETED, false, -1,
                  NULL, 0);
}

/* Every controller NS is attached to: its size (or else) changed. */
static void ns_changed(NvmeNamespace *ns)
{
    for (int i = 0; i < NVME_MAX_CONTROLLERS; i++) {
        NvmeCtrl *n = nvme_subsys_ctrl(ns->subsys, i);

        if (n && nvme_ns(n, ns->params.nsid)) {
            nvme_ns_changed(n, ns);
        }
    }
}

/* NS takes SIZE bytes of its backend now. */
static void ns_set_size(NvmeNamespace *ns, int64_t size)
{
    trace_pci_nvme_ns_resize(ns->params.nsid, ns->size, size);
    ns->size = size;
    nvme_ns_init_format(ns);
    ns_changed(ns);
}

/* Resize the image of NS, which the store owns, to SIZE bytes. */
static bool ns_truncate(NvmeNamespace *ns, uint64_t size, Error **errp)
{
    BlockBackend *blk = ns->blkconf.blk;
    uint64_t perm, shared;
    int ret;

    /* the device alone may resize it, and only here */
    blk_get_perm(blk, &perm, &shared);
    if (blk_set_perm(blk, perm | BLK_PERM_RESIZE, shared, errp) < 0) {
        return false;
    }
    ret = blk_truncate(blk, ROUND_UP(size, BDRV_SECTOR_SIZE), false,
                       PREALLOC_MODE_OFF, 0, errp);
    blk_set_perm(blk, perm, shared, &error_abort);
    return ret == 0;
}

/*
 * Can NS, whose record is REC, take SIZE bytes now?  Checked before a
 * resize and again after its image grew: growing the image runs a nested
 * event loop, in which the guest's commands go on (a delete of the
 * namespace, a Format, a create that takes the capacity).
 */
static bool resize_check(NvmeNamespace *ns, NvmeNsRecord *rec, uint64_t size,
                         bool force, Error **errp)
{
    NvmeNsStore *st = ns->subsys->store;
    uint32_t nsid = ns->params.nsid;
    uint64_t block = ns->lbasz + ns->lbaf.ms;
    uint64_t free = nvme_ns_store_tnvmcap(st) - nvme_ns_store_allocated(st);

    if (ns->store_rec != rec) {
        error_setg(errp, "namespace %" PRIu32 " was deleted meanwhile", nsid);
        return false;
    }
    if (ns->lbaf.ms && !NVME_ID_NS_FLBAS_EXTENDED(ns->id_ns.flbas)) {
        error_setg(errp, "namespace %" PRIu32 " keeps its metadata after "
                   "its data: it cannot be resized", nsid);
        return false;
    }
    if (ns->status == NVME_FORMAT_IN_PROGRESS) {
        error_setg(errp, "namespace %" PRIu32 " is being formatted", nsid);
        return false;
    }
    if (!size || size % block) {
        error_setg(errp, "size must be a positive multiple of %" PRIu64
                   " bytes", block);
        return false;
    }
    if (ns->params.zoned && (size / block) % ns->zone_size) {
        error_setg(errp, "a zoned namespace is a whole number of zones of "
                   "%" PRIu64 " bytes", ns->zone_size * block);
        return false;
    }
    if (size < rec->size && !force) {
        error_setg(errp, "namespace %" PRIu32 " would shrink from %" PRIu64
                   " to %" PRIu64 " bytes, losing the data past the new end: "
                   "set force to do it", nsid, rec->size, size);
        return false;
    }
    if (size > rec->size && size - rec->size > free) {
        error_setg(errp, "the namespace store has %" PRIu64 " bytes free, "
                   "the growth needs %" PRIu64, free, size - rec->size);
        return false;
    }
    if (nvme_ns_store_failed(st)) {
        error_setg(errp, "the namespace store in %s failed earlier",
                   nvme_ns_store_dir(st));
        return false;
    }
    return true;
}

/*
 * May the zones of NS, whose record is REC, change now?  After a nested
 * event loop: the guest may have deleted or formatted it meanwhile.
 */
static bool resize_zoned_check(NvmeNamespace *ns, NvmeNsRecord *rec,
                               NvmeZnsResize *r, Error **errp)
{
    if (ns->store_rec != rec) {
        error_setg(errp, "namespace %" PRIu32 " was deleted meanwhile",
                   ns->params.nsid);
        return false;
    }
    if (!nvme_zns_resize_current(r, ns)) {
        error_setg(errp, "namespace %" PRIu32 " was formatted meanwhile",
                   ns->params.nsid);
        return false;
    }
    return true;
}

/*
 * The record of NS takes SIZE bytes; false (ERRP set) if writing it
 * failed.
 */
static bool resize_record(NvmeNamespace *ns, NvmeNsRecord *rec,
                          uint64_t size, Error **errp)
{
    NvmeNsStore *st = ns->subsys->store;
    QmpWait w = {};

    nvme_ns_store_set_size(st, rec, size, size / (ns->lbasz + ns->lbaf.ms),
                           qmp_wait_cb, &w);
    if (qmp_wait(&w) < 0) {
        error_setg(errp, "writing the record of namespace %" PRIu32 " in %s "
                   "failed", ns->params.nsid, nvme_ns_store_dir(st));
        return false;
    }
    return true;
}

/*
 * Resize zoned NS, whose record is REC, to SIZE bytes, whole zones.  A
 * copy of its zone state file is laid out for the new zones and made
 * durable, in nested event loops.  Then, once no Zone Reset holds a zone
 * and no Format runs, the zones change in one step (a command that
 * follows sees the new zones).  The record never has fewer zones than
 * the file: it takes a larger size before the zones grow, a smaller one
 * after they shrank, and zns-state.c loads a file with fewer zones than
 * its record, whatever a crash interrupted.
 */
static bool resize_zoned(NvmeNamespace *ns, NvmeNsRecord *rec, uint64_t size,
                         Error **errp)
{
    uint64_t old = rec->size;
    NvmeZnsResize *r;
    QmpWait w = {};

    r = nvme_zns_resize_prepare(ns, size / (ns->lbasz + ns->lbaf.ms) /
                                ns->zone_size, errp);
    if (!r) {
        return false;
    }
    if (nvme_zns_resize_sync_aio(r, qmp_wait_cb, &w) && qmp_wait(&w) < 0) {
        error_setg(errp, "syncing the new zone state file of namespace %"
                   PRIu32 " failed", ns->params.nsid);
        goto fail;
    }
    if (!resize_zoned_check(ns, rec, r, errp) ||
        (size > old && !resize_record(ns, rec, size, errp))) {
        goto fail;
    }
    AIO_WAIT_WHILE(NULL, ns->store_rec == rec &&
                   (ns->status == NVME_FORMAT_IN_PROGRESS ||
                    nvme_ns_zone_reset_busy(ns)));
    if (!resize_zoned_check(ns, rec, r, errp) ||
        !nvme_zns_resize_commit(g_steal_pointer(&r), ns, errp)) {
        goto undo;
    }
    ns_set_size(ns, size);
    return size > old || resize_record(ns, rec, size, errp);

undo:
    if (size > old && ns->store_rec == rec) {
        Error *err = NULL;

        if (!resize_record(ns, rec, old, &err)) {
            warn_report_err(err);
        }
    }
fail:
    nvme_zns_resize_abort(r);
    return false;
}

void qmp_nvme_ns_resize(const char *name, uint32_t nsid, uint64_t size,
                        bool has_force, bool force, Error **errp)
{
    NvmeSubsystem *subsys = qmp_subsys(name, errp);
    NvmeNsRecord *rec;
    NvmeNamespace *ns;
    QmpWait w = {};

    force = has_force && force;
    if (!subsys) {
        return;
    }
    ns = qmp_ns(subsys, name, nsid, errp);
    if (!ns) {
        return;
    }
    rec = ns->store_rec;
    if (!resize_check(ns, rec, size, force, errp) || size == rec->size) {
        return;
    }

    /* held across the nested event loops below */
    object_ref(OBJECT(ns));
    /* the image grows first: it is never smaller than its record says */
    if (size > rec->size &&
        (!ns_truncate(ns, size, errp) ||
         !resize_check(ns, rec, size, force, errp))) {
        goto out;
    }
    if (ns->params.zoned) {
        if (!resize_zoned(ns, rec, size, errp)) {
            goto out;
        }
    } else {
        nvme_ns_store_set_size(subsys->store, rec, size,
                               size / (ns->lbasz + ns->lbaf.ms),
                               qmp_wait_cb, &w);
        /* the guest sees what the store's memory says, at once */
        ns_set_size(ns, size);
        if (qmp_wait(&w) < 0) {
            error_setg(errp, "writing the record of namespace %" PRIu32
                       " in %s failed", nsid,
                       nvme_ns_store_dir(subsys->store));
            goto out;
        }
    }
    if (ns->store_rec == rec &&
        blk_getlength(ns->blkconf.blk) > ROUND_UP(size, BDRV_SECTOR_SIZE)) {
        Error *err = NULL;

        /* a shrink, recorded: the image follows */
        if (!ns_truncate(ns, size, &err)) {
            warn_reportf_err(err, "namespace %" PRIu32 ": its image stays "
                             "larger than its %" PRIu64 " bytes: ", nsid,
                             size);
        }
    }
    nvme_ns_event(subsys, nsid, NVME_NAMESPACE_CHANGE_RESIZED, false, -1,
                  NULL, 0);
out:
    object_unref(OBJECT(ns));
}

NvmeStoreInfo *qmp_query_nvme_namespaces(const char *name, Error **errp)
{
    NvmeSubsystem *subsys = qmp_subsys(name, errp);
    NvmeNamespaceInfoList **tail;
    NvmeStoreInfo *info;
    NvmeNsStore *st;

    if (!subsys) {
        return NULL;
    }
    st = subsys->store;
    info = g_new0(NvmeStoreInfo, 1);
    info->subsys = g_strdup(name);
    info->path = g_strdup(nvme_ns_store_dir(st));
    info->tnvmcap = nvme_ns_store_tnvmcap(st);
    info->unvmcap = info->tnvmcap - nvme_ns_store_allocated(st);
    tail = &info->namespaces;

    for (NvmeNsRecord *rec = nvme_ns_store_next(st, 0); rec;
         rec = nvme_ns_store_next(st, rec->nsid)) {
        const NvmeLBAF *f = &nvme_lbaf_defaults[rec->lbaf];
        NvmeNamespaceInfo *ni;
        uint16List **ctail;

        if (rec->creating) {
            continue;
        }
        ni = g_new0(NvmeNamespaceInfo, 1);
        ni->nsid = rec->nsid;
        ni->uuid = qemu_uuid_unparse_strdup(&rec->uuid);
        ni->size = rec->size;
        ni->nsze = rec->nsze;
        ni->block_size = 1 << f->ds;
        ni->metadata_size = f->ms;
        ni->extended = rec->mset;
        ni->pi = rec->pi;
        ni->shared = rec->shared;
        ni->command_set = rec->csi == NVME_CSI_ZONED ? NVME_COMMAND_SET_ZONED :
                                                       NVME_COMMAND_SET_NVM;
        if (rec->csi == NVME_CSI_ZONED) {
            ni->has_zone_size = ni->has_zone_capacity = true;
            ni->zone_size = rec->zoned.zone_size;
            ni->zone_capacity = rec->zoned.zone_cap;
        }
        ctail = &ni->controllers;
        for (int c = 0; c < NVME_NS_STORE_MAX_CTRLS; c++) {
            if (test_bit(c, rec->attached)) {
                QAPI_LIST_APPEND(ctail, c);
            }
        }
        ni->image = g_build_filename(nvme_ns_store_dir(st), rec->image, NULL);
        QAPI_LIST_APPEND(tail, ni);
    }
    return info;
}

/*
 * A static namespace whose backend was resized (block_resize): the new
 * size, and every controller it is attached to is told, as after
 * nvme-ns-resize.  Only the namespaces nvme_ns_resizable() lets be
 * resized get here.
 */
static void ns_resize_cb(void *opaque)
{
    NvmeNamespace *ns = opaque;
    int64_t len = blk_getlength(ns->blkconf.blk);

    if (len < 0) {
        return;
    }
    ns_set_size(ns, len);
}

static const BlockDevOps ns_dev_ops = {
    .resize_cb = ns_resize_cb,
};

/*
 * May the backend of NS be resized under it (block_resize)?  A static
 * namespace of the NVM command set whose metadata, if any, is in its
 * logical blocks: not a zoned one (its zones and zone state file have a
 * fixed geometry), not one of the store (nvme-ns-resize keeps the record
 * in step), not one with its metadata after its data (it would move).
 */
bool nvme_ns_resizable(NvmeNamespace *ns)
{
    return !ns->params.zoned && !ns->store_rec &&
           !(ns->params.ms && !ns->params.mset);
}

void nvme_ns_watch_resize(NvmeNamespace *ns)
{
    if (nvme_ns_resizable(ns)) {
        blk_set_dev_ops(ns->blkconf.blk, &ns_dev_ops, ns);
    }
}
