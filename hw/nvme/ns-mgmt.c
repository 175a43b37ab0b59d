/*
 * QEMU NVM Express: Namespace Management
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The Namespace Management command (create, delete) for the namespaces of
 * an NVM subsystem's namespace store, run-time realize and unrealize of
 * their nvme-ns devices, their attachments, and the capacity fields of
 * Identify Controller.  Files are the store's business (ns-store.c).
 *
 * Every change is in the store before its command completes: create
 * writes image and record before realizing the device, delete removes the
 * record (the device goes at once), attachment and format changes rewrite
 * the record.  The files are written by the store's jobs in worker
 * threads: a command that changes the store returns NVME_NO_COMPLETE and
 * completes from its job's callback, so the main loop never waits for the
 * disk.  A controller reset waits for such a command (its request holds
 * the AIOCB below), as it waits for any other command in flight.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "block/block-global-state.h"
#include "block/aio.h"
#include "system/block-backend.h"

#include "qapi/qapi-types-nvme.h"
#include "nvme.h"
#include "trace.h"

/*
 * The device of a namespace of the store goes with the namespace: device_del
 * would leave the store and the devices out of step.
 */
static void ns_block_unplug(NvmeSubsystem *subsys, DeviceState *dev,
                            uint32_t nsid)
{
    g_autofree char *name = nvme_ns_qmp_subsys_name(subsys);
    Error *blocker = NULL;

    error_setg(&blocker, "namespace %" PRIu32 " belongs to the namespace "
               "store of NVMe subsystem '%s': delete it with nvme-ns-delete",
               nsid, name);
    qdev_add_unplug_blocker(dev, blocker);
}

/* Take the device of a namespace of the store down. */
void nvme_ns_mgmt_unparent(NvmeNamespace *ns)
{
    DeviceState *dev = DEVICE(ns);

    while (dev->unplug_blockers) {
        Error *blocker = dev->unplug_blockers->data;

        qdev_del_unplug_blocker(dev, blocker);
        error_free(blocker);
    }
    object_unparent(OBJECT(ns));
}

/* Realize the nvme-ns device of REC on controller N's bus. */
NvmeNamespace *nvme_ns_mgmt_realize_ns(NvmeCtrl *n, NvmeNsRecord *rec,
                                       Error **errp)
{
    NvmeNsStore *st = n->subsys->store;
    const NvmeLBAF *f = &nvme_lbaf_defaults[rec->lbaf];
    g_autofree char *zpath = nvme_ns_store_zone_file_path(st, rec);
    g_autofree char *uuid = qemu_uuid_unparse_strdup(&rec->uuid);
    BlockDriverState *bs;
    DeviceState *dev;
    Object *obj;

    bs = nvme_ns_store_open_image(st, rec, errp);
    if (!bs) {
        return NULL;
    }

    dev = qdev_new(TYPE_NVME_NS);
    obj = OBJECT(dev);
    if (!object_property_set_str(obj, "drive", bdrv_get_node_name(bs),
                                 errp) ||
        !object_property_set_str(obj, "uuid", uuid, errp) ||
        !object_property_set_str(obj, "write-cache", "on", errp)) {
        goto fail;
    }
    qdev_prop_set_uint32(dev, "nsid", rec->nsid);
    qdev_prop_set_bit(dev, "detached", true);
    qdev_prop_set_bit(dev, "shared", rec->shared);
    qdev_prop_set_uint32(dev, "logical_block_size", 1 << f->ds);
    qdev_prop_set_uint32(dev, "physical_block_size", 1 << f->ds);
    qdev_prop_set_uint16(dev, "ms", f->ms);
    qdev_prop_set_uint8(dev, "mset", rec->mset);
    qdev_prop_set_uint8(dev, "pi", rec->pi);
    qdev_prop_set_uint8(dev, "pil", rec->pil);
    if (zpath) {
        qdev_prop_set_bit(dev, "zoned", true);
        qdev_prop_set_uint64(dev, "zoned.zone_size", rec->zoned.zone_size);
        qdev_prop_set_uint64(dev, "zoned.zone_capacity", rec->zoned.zone_cap);
        qdev_prop_set_uint32(dev, "zoned.descr_ext_size",
                             rec->zoned.descr_ext_size);
        qdev_prop_set_uint32(dev, "zoned.max_open", rec->zoned.max_open);
        qdev_prop_set_uint32(dev, "zoned.max_active", rec->zoned.max_active);
        qdev_prop_set_string(dev, "zoned.zone_file", zpath);
    }

    /*
     * Set before realize: the record bounds the size the namespace uses,
     * and a zoned namespace's file may lack the zones a resize that a
     * crash cut short gave the record.
     */
    NVME_NS(dev)->store_rec = rec;
    NVME_NS(dev)->zstate_grows = true;
    if (!qdev_realize(dev, &n->bus.parent_bus, errp)) {
        goto fail;
    }
    /* a zone state file ahead of the record (a Format's record lost) */
    nvme_ns_mgmt_format_done(NVME_NS(dev), -1, NULL, NULL);
    ns_block_unplug(n->subsys, dev, rec->nsid);
    object_unref(obj);
    bdrv_unref(bs);
    return NVME_NS(dev);

fail:
    object_unref(obj);
    bdrv_unref(bs);
    return NULL;
}

/* Attach the store's namespaces that its records attach to N. */
static void attach_stored(NvmeCtrl *n)
{
    NvmeNsStore *st = n->subsys->store;
    NvmeNsRecord *rec;
    NvmeNamespace *ns;

    for (rec = nvme_ns_store_next(st, 0); rec;
         rec = nvme_ns_store_next(st, rec->nsid)) {
        ns = nvme_subsys_ns(n->subsys, rec->nsid);
        if (ns && test_bit(n->cntlid, rec->attached) &&
            !nvme_ns(n, rec->nsid)) {
            trace_pci_nvme_ns_mgmt_attach_stored(n->cntlid, rec->nsid);
            nvme_attach_ns(n, ns);
        }
    }
}

/*
 * The store of an nvme-subsys with auto-ns-path, opened when the subsystem
 * is realized: the lock is taken, every record is read and checked, and
 * the zone format of zoned creates is set.  The namespaces are realized
 * with the subsystem's first controller (an nvme-ns needs a controller's
 * bus to be realized on).
 */
bool nvme_ns_mgmt_subsys_realize(NvmeSubsystem *subsys, Error **errp)
{
    const NvmeNsZoneFormat *zf = &subsys->params.auto_ns_zoned;
    const char *path = subsys->params.auto_ns_path;
    NvmeNsStore *st;

    if (!path) {
        return true;
    }
    subsys->zone_fmt = *zf;
    if (!subsys->zone_fmt.zone_cap) {
        subsys->zone_fmt.zone_cap = zf->zone_size;
    }
    /* as nvme-ns does: an active limit alone limits open zones too */
    if (!subsys->zone_fmt.max_open) {
        subsys->zone_fmt.max_open = zf->max_active;
    }
    if (!nvme_ns_store_zone_fmt_check(&subsys->zone_fmt, "auto-ns-zone-*",
                                      errp)) {
        return false;
    }

    st = nvme_ns_store_open(path, subsys->params.auto_ns_tnvmcap,
                            subsys->params.auto_ns_purge, errp);
    if (!st) {
        return false;
    }
    subsys->store = st;
    return true;
}

/*
 * The subsystem goes (an implicit one with its controller).  Its bus took
 * its namespaces down already; the store's own devices go with the store,
 * which closes once its files are written.
 */
void nvme_ns_mgmt_subsys_unrealize(NvmeSubsystem *subsys)
{
    for (uint32_t nsid = 1; nsid <= NVME_MAX_NAMESPACES; nsid++) {
        NvmeNamespace *ns = nvme_subsys_ns(subsys, nsid);

        if (ns && ns->store_rec) {
            subsys->namespaces[nsid] = NULL;
            /*
             * The device is freed after an RCU grace period; its image is
             * let go of now, for the next user of the store.
             */
            blk_remove_bs(ns->blkconf.blk);
            nvme_ns_mgmt_unparent(ns);
        }
    }
    nvme_ns_store_close(subsys->store);
    subsys->store = NULL;
}

/*
 * Realize on N's bus the store's namespaces that have no device yet: all of
 * them with the subsystem's first controller, none with a later one (nor a
 * hot-plugged one, for which a create whose files are being written will
 * realize its own).
 */
static bool realize_stored(NvmeCtrl *n, Error **errp)
{
    NvmeSubsystem *subsys = n->subsys;
    NvmeNsStore *st = subsys->store;
    NvmeNsRecord *rec;
    NvmeNamespace *ns;
    Error *local_err = NULL;

    for (rec = nvme_ns_store_next(st, 0); rec;
         rec = nvme_ns_store_next(st, rec->nsid)) {
        g_autofree char *file = nvme_ns_store_record_path(st, rec);

        ns = nvme_subsys_ns(subsys, rec->nsid);
        if (rec->creating || (ns && ns->store_rec == rec)) {
            continue;
        }
        if (ns) {
            error_setg(errp, "%s: NSID %u is already used by an nvme-ns "
                       "device on the command line", file, rec->nsid);
            return false;
        }
        trace_pci_nvme_ns_mgmt_load(rec->nsid, rec->record);
        if (!nvme_ns_mgmt_realize_ns(n, rec, &local_err)) {
            error_propagate_prepend(errp, local_err, "%s: ", file);
            /* QEMU does not start: the devices go with it, the files stay */
            return false;
        }
    }
    return true;
}

/*
 * The auto-ns-* properties of nvme are those of its implicit subsystem
 * (as its serial is the subsystem's NQN): forward them to DEV, that
 * subsystem, before it is realized.
 */
void nvme_ns_mgmt_forward_props(NvmeCtrl *n, DeviceState *dev)
{
    const NvmeNsZoneFormat *zf = &n->params.auto_ns_zoned;

    if (!n->params.auto_ns_path) {
        return;
    }
    qdev_prop_set_string(dev, "auto-ns-path", n->params.auto_ns_path);
    qdev_prop_set_uint64(dev, "auto-ns-tnvmcap", n->params.auto_ns_tnvmcap);
    qdev_prop_set_bit(dev, "auto-ns-purge", n->params.auto_ns_purge);
    qdev_prop_set_uint64(dev, "auto-ns-zone-size", zf->zone_size);
    qdev_prop_set_uint64(dev, "auto-ns-zone-capacity", zf->zone_cap);
    qdev_prop_set_uint32(dev, "auto-ns-zone-descr-ext-size",
                         zf->descr_ext_size);
    qdev_prop_set_uint32(dev, "auto-ns-zone-max-open", zf->max_open);
    qdev_prop_set_uint32(dev, "auto-ns-zone-max-active", zf->max_active);
}

bool nvme_ns_mgmt_realize(NvmeCtrl *n, Error **errp)
{
    NvmeSubsystem *subsys = n->subsys;

    /* an nvme-subsys given with subsys= has an id; an implicit one not */
    if (n->params.auto_ns_path && DEVICE(subsys)->id) {
        error_setg(errp, "auto-ns-path: the controller belongs to "
                   "nvme-subsys '%s', which holds the namespace store: set "
                   "the auto-ns-* properties there", DEVICE(subsys)->id);
        goto fail;
    }
    if (subsys->store && !realize_stored(n, errp)) {
        goto fail;
    }
    if (!subsys->store) {
        return true;
    }
    /* this controller, and those of the subsystem realized before it */
    for (int i = 0; i < NVME_MAX_CONTROLLERS; i++) {
        NvmeCtrl *ctrl = nvme_subsys_ctrl(subsys, i);

        if (ctrl) {
            attach_stored(ctrl);
        }
    }
    return true;

fail:
    /* the controller does not come up: out of the subsystem again */
    nvme_subsys_unregister_ctrl(subsys, n);
    return false;
}

void nvme_ns_mgmt_id_ctrl(NvmeCtrl *n)
{
    NvmeNsStore *st = n->subsys->store;
    uint64_t tnvmcap = st ? nvme_ns_store_tnvmcap(st) : 0;
    uint64_t unvmcap = st ? tnvmcap - nvme_ns_store_allocated(st) : 0;

    /* 128-bit little-endian fields; QEMU's pool fits the low half */
    stq_le_p(&n->id_ctrl.tnvmcap[0], tnvmcap);
    stq_le_p(&n->id_ctrl.tnvmcap[8], 0);
    stq_le_p(&n->id_ctrl.unvmcap[0], unvmcap);
    stq_le_p(&n->id_ctrl.unvmcap[8], 0);
}

/*
 * Identify Namespace (CNS 00h) with NSID FFFFFFFFh: with Namespace
 * Management, the capabilities common to the namespaces a create makes:
 * the LBA formats, metadata and protection capabilities (nvme-cli's
 * create-ns --block-size looks the format up here).  False when there is
 * no store.
 */
bool nvme_ns_mgmt_id_ns_common(NvmeCtrl *n, NvmeIdNs *id)
{
    if (!n->subsys->store) {
        return false;
    }
    memset(id, 0, sizeof(*id));
    id->nlbaf = NVME_NS_DEFAULT_NLBAF - 1;
    id->mc = NVME_ID_NS_MC_EXTENDED | NVME_ID_NS_MC_SEPARATE;
    id->dpc = 0x1f;     /* PI types 1 to 3, in the first or last 8 bytes */
    memcpy(id->lbaf, nvme_lbaf_defaults, sizeof(nvme_lbaf_defaults));
    return true;
}

/*
 * Identify Namespace for the Zoned command set with NSID FFFFFFFFh: what
 * is common to the zoned namespaces a create makes, above all the zone
 * format of each LBA format.  False when there is no store.
 */
bool nvme_ns_mgmt_id_ns_zoned(NvmeCtrl *n, NvmeIdNsZoned *id)
{
    const NvmeNsZoneFormat *zf = &n->subsys->zone_fmt;

    if (!n->subsys->store) {
        return false;
    }
    memset(id, 0, sizeof(*id));
    /* 0's based, FFFFFFFFh: no limit */
    id->mar = cpu_to_le32(zf->max_active - 1);
    id->mor = cpu_to_le32(zf->max_open - 1);
    for (int i = 0; i < NVME_NS_DEFAULT_NLBAF; i++) {
        id->lbafe[i].zsze = cpu_to_le64(nvme_ns_zone_blocks(zf, i));
        id->lbafe[i].zdes = zf->descr_ext_size / 64;
    }
    return true;
}

/* A command that waits for the store's jobs. */
typedef struct NsMgmtAIOCB {
    BlockAIOCB common;
    NvmeCtrl *n;
    NvmeRequest *req;
    uint32_t nsid;
    int pending;        /* jobs not done yet */
    uint16_t status;
    int change;         /* NvmeNamespaceChange to report, or -1 */
    uint16_t *cntlids;  /* of an attachment (LE), for the report */
    int nr_cntlids;
    GArray *deleted;    /* NSIDs a delete took out, for the report */
} NsMgmtAIOCB;

/* Nothing to cancel: the jobs finish, and a reset waits for them. */
static const AIOCBInfo ns_mgmt_aiocb_info = {
    .aiocb_size = sizeof(NsMgmtAIOCB),
};

static NsMgmtAIOCB *ns_mgmt_aiocb_new(NvmeCtrl *n, NvmeRequest *req,
                                      uint32_t nsid)
{
    NsMgmtAIOCB *iocb = qemu_aio_get(&ns_mgmt_aiocb_info, NULL, nvme_misc_cb,
                                     req);

    iocb->n = n;
    iocb->req = req;
    iocb->nsid = nsid;
    iocb->pending = 0;
    iocb->status = NVME_SUCCESS;
    iocb->change = -1;
    iocb->cntlids = NULL;
    iocb->nr_cntlids = 0;
    iocb->deleted = g_array_new(false, false, sizeof(uint32_t));
    req->aiocb = &iocb->common;
    return iocb;
}

static void ns_mgmt_complete(NsMgmtAIOCB *iocb)
{
    NvmeCtrl *n = nvme_ctrl(iocb->req);

    if (iocb->status) {
        iocb->req->status = iocb->status;
    } else {
        /* durable now: tell the host side what the guest did */
        if (iocb->change >= 0) {
            nvme_ns_event(n->subsys, iocb->nsid, iocb->change, true,
                          n->cntlid, iocb->cntlids, iocb->nr_cntlids);
        }
        for (guint i = 0; i < iocb->deleted->len; i++) {
            uint32_t nsid = g_array_index(iocb->deleted, uint32_t, i);

            nvme_ns_event(n->subsys, nsid, NVME_NAMESPACE_CHANGE_DELETED,
                          true, n->cntlid, NULL, 0);
        }
    }
    g_free(iocb->cntlids);
    g_array_free(iocb->deleted, true);
    iocb->common.cb(iocb->common.opaque, 0);
    qemu_aio_unref(iocb);
}

/* A job of a command done; the command completes with the last one. */
static void ns_mgmt_job_done(void *opaque, int ret)
{
    NsMgmtAIOCB *iocb = opaque;

    if (ret < 0 && !iocb->status) {
        trace_pci_nvme_err_ns_mgmt_store(iocb->nsid);
        iocb->status = NVME_INTERNAL_DEV_ERROR;
    }
    if (--iocb->pending == 0) {
        ns_mgmt_complete(iocb);
    }
}

/* Wait for one more job: pass ns_mgmt_job_done and the result as its cb. */
static NsMgmtAIOCB *ns_mgmt_wait(NsMgmtAIOCB *iocb)
{
    iocb->pending++;
    return iocb;
}

/*
 * Check the host-specified fields of a create; fill TMPL from them.  NSID:
 * the one to take (refused if taken), or 0 for the lowest free one.
 */
uint16_t nvme_ns_mgmt_create_check(NvmeSubsystem *subsys, const NvmeIdNs *id,
                                   uint8_t csi, uint32_t nsid,
                                   NvmeNsRecord *tmpl)
{
    uint64_t nsze = le64_to_cpu(id->nsze);
    uint64_t ncap = le64_to_cpu(id->ncap);
    /* FLBAS bits 3:0 and 6:5 select the format */
    uint8_t lbaf = NVME_ID_NS_FLBAS_INDEX(id->flbas) |
                   ((id->flbas >> 5) & 0x3) << 4;
    uint8_t pi = id->dps & NVME_ID_NS_DPS_TYPE_MASK;
    uint16_t endgid = le16_to_cpu(id->endgid);
    uint64_t bytes, zsze;

    if (!nsze || ncap > nsze) {
        trace_pci_nvme_err_ns_mgmt_nsze(nsze, ncap);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (ncap < nsze) {
        trace_pci_nvme_err_ns_mgmt_thin(nsze, ncap);
        return NVME_THIN_PROVISIONING_NOT_SUPPORTED | NVME_DNR;
    }
    if (lbaf >= NVME_NS_DEFAULT_NLBAF) {
        trace_pci_nvme_err_ns_mgmt_flbas(id->flbas);
        return NVME_INVALID_FORMAT | NVME_DNR;
    }
    if ((id->dps & ~(NVME_ID_NS_DPS_TYPE_MASK | NVME_ID_NS_DPS_FIRST_EIGHT)) ||
        pi > NVME_ID_NS_DPS_TYPE_3 ||
        (id->dps && !nvme_lbaf_defaults[lbaf].ms)) {
        trace_pci_nvme_err_ns_mgmt_dps(id->dps, lbaf);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (id->nmic & ~NVME_ID_NS_IND_NMIC_SHRNS) {
        trace_pci_nvme_err_ns_mgmt_nmic(id->nmic);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (endgid > 1) {
        trace_pci_nvme_err_ns_mgmt_endgid(endgid);
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    if (!subsys->store || !nvme_ns_bytes(lbaf, ncap, &bytes) ||
        bytes > nvme_ns_store_tnvmcap(subsys->store) -
                nvme_ns_store_allocated(subsys->store)) {
        trace_pci_nvme_err_ns_mgmt_capacity(ncap, lbaf);
        return NVME_NS_INSUFFICIENT_CAPACITY | NVME_DNR;
    }
    /* with a store, a zone format: zones are whole in every LBA format */
    zsze = nvme_ns_zone_blocks(&subsys->zone_fmt, lbaf);
    if (csi == NVME_CSI_ZONED && nsze % zsze) {
        trace_pci_nvme_err_ns_mgmt_zones(nsze, zsze);
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    /* a create whose files are being written holds its NSID in the store */
    if (nsid) {
        if (nsid > NVME_MAX_NAMESPACES || nvme_subsys_ns(subsys, nsid) ||
            nvme_ns_store_get(subsys->store, nsid)) {
            nsid = NVME_MAX_NAMESPACES + 1;
        }
    } else {
        for (nsid = 1; nsid <= NVME_MAX_NAMESPACES; nsid++) {
            if (!nvme_subsys_ns(subsys, nsid) &&
                !nvme_ns_store_get(subsys->store, nsid)) {
                break;
            }
        }
    }
    if (nsid > NVME_MAX_NAMESPACES) {
        trace_pci_nvme_err_ns_mgmt_nsid_unavailable();
        return NVME_NS_ID_UNAVAILABLE | NVME_DNR;
    }

    *tmpl = (NvmeNsRecord) {
        .nsid = nsid,
        .csi = csi,
        .lbaf = lbaf,
        .mset = NVME_ID_NS_FLBAS_EXTENDED(id->flbas),
        .pi = pi,
        .pil = !!(id->dps & NVME_ID_NS_DPS_FIRST_EIGHT),
        .shared = id->nmic & NVME_ID_NS_IND_NMIC_SHRNS,
        .nsze = nsze,
        .size = bytes,
    };
    if (csi == NVME_CSI_ZONED) {
        tmpl->zoned = subsys->zone_fmt;
    }
    return NVME_SUCCESS;
}

static void create_stored(void *opaque, int ret)
{
    NsMgmtAIOCB *iocb = opaque;
    NvmeNsStore *st = iocb->n->subsys->store;
    Error *err = NULL;

    if (ret < 0) {
        /* the store freed the NSID and the capacity */
        trace_pci_nvme_err_ns_mgmt_store(iocb->nsid);
        iocb->status = NVME_INTERNAL_DEV_ERROR;
        ns_mgmt_complete(iocb);
        return;
    }
    if (!nvme_ns_mgmt_realize_ns(iocb->n, nvme_ns_store_get(st, iocb->nsid),
                                 &err)) {
        error_report_err(err);
        trace_pci_nvme_err_ns_mgmt_realize(iocb->nsid);
        iocb->status = NVME_INTERNAL_DEV_ERROR;
        nvme_ns_store_abort(st, iocb->nsid, ns_mgmt_job_done,
                            ns_mgmt_wait(iocb));
        return;
    }
    iocb->req->cqe.result = cpu_to_le32(iocb->nsid);
    iocb->change = NVME_NAMESPACE_CHANGE_CREATED;
    ns_mgmt_complete(iocb);
}

static uint16_t ns_mgmt_create(NvmeCtrl *n, NvmeRequest *req)
{
    NvmeSubsystem *subsys = n->subsys;
    uint8_t csi = le32_to_cpu(req->cmd.cdw11) >> 24;
    NvmeIdNs id;
    NvmeNsRecord tmpl;
    uint16_t status;

    if (csi != NVME_CSI_NVM && csi != NVME_CSI_ZONED) {
        trace_pci_nvme_err_ns_mgmt_csi(csi);
        return NVME_IOCS_NOT_SUPPORTED | NVME_DNR;
    }

    status = nvme_h2c(n, &id, sizeof(id), req);
    if (status) {
        return status;
    }

    status = nvme_ns_mgmt_create_check(subsys, &id, csi, 0, &tmpl);
    if (status) {
        return status;
    }
    if (nvme_ns_store_failed(subsys->store)) {
        trace_pci_nvme_err_ns_mgmt_store_failed();
        return NVME_INTERNAL_DEV_ERROR;
    }
    trace_pci_nvme_ns_mgmt_create(tmpl.nsid, tmpl.nsze, id.flbas, id.dps,
                                  id.nmic);

    /* the device is realized once the files are durable */
    nvme_ns_store_create(subsys->store, &tmpl, create_stored,
                         ns_mgmt_aiocb_new(n, req, tmpl.nsid));
    return NVME_NO_COMPLETE;
}

/*
 * Take a namespace of the store out: out of the store's memory (its
 * record's removal is queued behind IOCB), then every attachment, with the
 * events, and its NSID.  Nothing here runs a nested event loop, so no
 * other command can reach the namespace between the checks of the caller
 * and the moment it is unreachable.  The caller unrealizes it afterwards.
 */
void nvme_ns_mgmt_unlink(NvmeSubsystem *subsys, NvmeNamespace *ns,
                         BlockCompletionFunc *cb, void *opaque)
{
    uint32_t nsid = ns->params.nsid;

    trace_pci_nvme_ns_mgmt_delete(nsid);

    nvme_ns_store_delete(subsys->store, nsid, cb, opaque);
    ns->store_rec = NULL;

    for (int i = 0; i < NVME_MAX_CONTROLLERS; i++) {
        NvmeCtrl *ctrl = nvme_subsys_ctrl(subsys, i);

        if (ctrl && nvme_ns(ctrl, nsid)) {
            nvme_ns_attach_notify(ctrl, ns, false);
        }
    }
    subsys->namespaces[nsid] = NULL;
}

/*
 * Can NS go now?  Not while a Format NVM runs on it, nor while commands are
 * in flight on it: their completions would use what delete frees.  The
 * host retries (no DNR), as for a Format of a busy zoned namespace.
 */
uint16_t nvme_ns_mgmt_delete_check(NvmeNamespace *ns)
{
    uint32_t nsid = ns->params.nsid;

    if (ns->status == NVME_FORMAT_IN_PROGRESS) {
        trace_pci_nvme_err_ns_mgmt_formatting(nsid);
        return NVME_FORMAT_IN_PROGRESS;
    }
    if (nvme_ns_busy(ns)) {
        trace_pci_nvme_err_ns_mgmt_busy(nsid);
        return NVME_NS_NOT_READY;
    }
    return NVME_SUCCESS;
}

static uint16_t ns_mgmt_delete(NvmeCtrl *n, NvmeRequest *req)
{
    NvmeSubsystem *subsys = n->subsys;
    uint32_t nsid = le32_to_cpu(req->cmd.nsid);
    g_autoptr(GPtrArray) gone = g_ptr_array_new();
    NvmeNamespace *ns;
    NsMgmtAIOCB *iocb;
    uint16_t status;
    uint32_t first = nsid, last = nsid;

    if (nsid == NVME_NSID_BROADCAST) {
        first = 1;
        last = NVME_MAX_NAMESPACES;
    } else {
        ns = nvme_subsys_ns(subsys, nsid);
        if (!ns) {
            trace_pci_nvme_err_ns_mgmt_invalid_nsid(nsid);
            return NVME_INVALID_NSID | NVME_DNR;
        }
        if (!ns->store_rec) {
            trace_pci_nvme_err_ns_mgmt_not_stored(nsid);
            return NVME_INVALID_FIELD | NVME_DNR;
        }
    }

    /* all or nothing as far as the checks go */
    for (nsid = first; nsid <= last; nsid++) {
        ns = nvme_subsys_ns(subsys, nsid);
        if (ns && ns->store_rec) {
            status = nvme_ns_mgmt_delete_check(ns);
            if (status) {
                return status;
            }
        }
    }

    /* held until every namespace is out, so that it completes after */
    iocb = ns_mgmt_wait(ns_mgmt_aiocb_new(n, req, first));
    for (nsid = first; nsid <= last; nsid++) {
        ns = nvme_subsys_ns(subsys, nsid);
        if (ns && ns->store_rec) {
            nvme_ns_mgmt_unlink(subsys, ns, ns_mgmt_job_done,
                                ns_mgmt_wait(iocb));
            g_array_append_val(iocb->deleted, nsid);
            g_ptr_array_add(gone, ns);
        }
    }

    /* unreachable now: the nested event loops of unrealize are harmless */
    for (guint i = 0; i < gone->len; i++) {
        nvme_ns_mgmt_unparent(g_ptr_array_index(gone, i));
    }
    ns_mgmt_job_done(iocb, 0);
    return NVME_NO_COMPLETE;
}

/*
 * Before a controller reset frees N's queues: every command in flight that
 * has an AIOCB (which includes those waiting for the store's jobs, and a
 * Flush waiting for a zone state sync in a worker thread) is cancelled and
 * waited for, so that no completion reaches a freed request.  QEMU bases
 * that do this in the reset itself find nothing left to do.
 */
void nvme_ns_mgmt_ctrl_reset(NvmeCtrl *n)
{
    for (int q = 0; q <= n->params.max_ioqpairs; q++) {
        NvmeRequest *req;
        bool again = true;

        while (n->sq[q] && again) {
            again = false;
            QTAILQ_FOREACH(req, &n->sq[q]->out_req_list, entry) {
                if (req->aiocb) {
                    blk_aio_cancel(req->aiocb);
                    again = true;   /* the list changed */
                    break;
                }
            }
        }
    }
}

uint16_t nvme_ns_mgmt(NvmeCtrl *n, NvmeRequest *req)
{
    uint32_t dw10 = le32_to_cpu(req->cmd.cdw10);
    uint8_t sel = dw10 & 0xf;

    trace_pci_nvme_ns_mgmt(nvme_cid(req), sel,
                           le32_to_cpu(req->cmd.cdw11) >> 24,
                           le32_to_cpu(req->cmd.nsid));

    switch (sel) {
    case NVME_NS_MANAGEMENT_CREATE:
        return ns_mgmt_create(n, req);
    case NVME_NS_MANAGEMENT_DELETE:
        return ns_mgmt_delete(n, req);
    default:
        trace_pci_nvme_err_ns_mgmt_sel(sel);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
}

/*
 * After Namespace Attachment changed the attachments of NS: for a namespace
 * of the store, the command completes once they are durable.
 */
uint16_t nvme_ns_mgmt_attachment(NvmeRequest *req, NvmeNamespace *ns,
                                 bool attach, const uint16_t *cntlids, int nr)
{
    NvmeNsRecord *rec = ns->store_rec;
    NsMgmtAIOCB *iocb;

    if (!rec) {
        return NVME_SUCCESS;
    }

    trace_pci_nvme_ns_mgmt_attachment(rec->nsid, attach, nr);
    iocb = ns_mgmt_aiocb_new(NULL, req, rec->nsid);
    iocb->change = attach ? NVME_NAMESPACE_CHANGE_ATTACHED :
                            NVME_NAMESPACE_CHANGE_DETACHED;
    iocb->cntlids = g_memdup2(cntlids, nr * sizeof(*cntlids));
    iocb->nr_cntlids = nr;
    nvme_ns_store_set_attached(ns->subsys->store, rec, cntlids, nr, attach,
                               ns_mgmt_job_done, ns_mgmt_wait(iocb));
    return NVME_NO_COMPLETE;
}

/* A Format NVM's new format is durable: report it, then go on. */
typedef struct NsMgmtFormatDone {
    BlockCompletionFunc *cb;
    void *opaque;
    NvmeSubsystem *subsys;
    uint32_t nsid;
    int cntlid;
} NsMgmtFormatDone;

static void format_stored(void *opaque, int ret)
{
    NsMgmtFormatDone *fd = opaque;

    if (ret == 0) {
        nvme_ns_event(fd->subsys, fd->nsid, NVME_NAMESPACE_CHANGE_FORMATTED,
                      true, fd->cntlid, NULL, 0);
    }
    fd->cb(fd->opaque, ret);
    g_free(fd);
}

/*
 * After a Format NVM of NS by controller CNTLID: for a namespace of the
 * store, write its new format; CB gets OPAQUE and the result once it is
 * durable.  False (and no CB) for another namespace.  Without CB (at
 * realize, CNTLID -1), only a format the record does not say yet is
 * written.
 */
bool nvme_ns_mgmt_format_done(NvmeNamespace *ns, int cntlid,
                              BlockCompletionFunc *cb, void *opaque)
{
    NvmeNsRecord *rec = ns->store_rec;
    uint8_t flbas = ns->id_ns.flbas, dps = ns->id_ns.dps;
    uint8_t lbaf;

    if (!rec) {
        return false;
    }

    /* FLBAS bits 3:0 and 6:5 select the format */
    lbaf = NVME_ID_NS_FLBAS_INDEX(flbas) | ((flbas >> 5) & 0x3) << 4;
    if (!cb && lbaf == rec->lbaf && NVME_ID_NS_FLBAS_EXTENDED(flbas) ==
        rec->mset && (dps & NVME_ID_NS_DPS_TYPE_MASK) == rec->pi &&
        !!(dps & NVME_ID_NS_DPS_FIRST_EIGHT) == rec->pil) {
        return true;    /* at realize: the record says the format */
    }
    trace_pci_nvme_ns_mgmt_format(rec->nsid, lbaf);
    if (cb) {
        NsMgmtFormatDone *fd = g_new(NsMgmtFormatDone, 1);

        *fd = (NsMgmtFormatDone) { cb, opaque, ns->subsys, rec->nsid,
                                   cntlid };
        cb = format_stored;
        opaque = fd;
    }
    nvme_ns_store_set_format(ns->subsys->store, rec, lbaf,
                             NVME_ID_NS_FLBAS_EXTENDED(flbas),
                             dps & NVME_ID_NS_DPS_TYPE_MASK,
                             dps & NVME_ID_NS_DPS_FIRST_EIGHT,
                             le64_to_cpu(ns->id_ns.nsze), cb, opaque);
    return true;
}
