/*
 * QEMU NVM Express: Namespace Management, the interface to the controller
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What the controller model (ctrl.c, ns.c) calls in ns-mgmt.c, and what
 * ns-mgmt.c calls in the controller model.  nvme.h includes this header
 * before its own types: the functions take pointers only.
 */

#ifndef HW_NVME_NS_MGMT_H
#define HW_NVME_NS_MGMT_H

#include "block/aio.h"
#include "block/nvme.h"
#include "ns-store.h"

typedef struct NvmeCtrl NvmeCtrl;
typedef struct NvmeNamespace NvmeNamespace;
typedef struct NvmeRequest NvmeRequest;
typedef struct NvmeSubsystem NvmeSubsystem;

/* ns-mgmt.c */
bool nvme_ns_mgmt_subsys_realize(NvmeSubsystem *subsys, Error **errp);
void nvme_ns_mgmt_subsys_unrealize(NvmeSubsystem *subsys);
void nvme_ns_mgmt_forward_props(NvmeCtrl *n, DeviceState *dev);
bool nvme_ns_mgmt_realize(NvmeCtrl *n, Error **errp);
uint16_t nvme_ns_mgmt(NvmeCtrl *n, NvmeRequest *req);
uint16_t nvme_ns_mgmt_attachment(NvmeRequest *req, NvmeNamespace *ns,
                                 bool attach, const uint16_t *cntlids, int nr);
bool nvme_ns_mgmt_format_done(NvmeNamespace *ns, int cntlid,
                              BlockCompletionFunc *cb, void *opaque);
void nvme_ns_mgmt_id_ctrl(NvmeCtrl *n);
void nvme_ns_mgmt_ctrl_reset(NvmeCtrl *n);
bool nvme_ns_mgmt_id_ns_zoned(NvmeCtrl *n, NvmeIdNsZoned *id);
bool nvme_ns_mgmt_id_ns_common(NvmeCtrl *n, NvmeIdNs *id);

/* ns-mgmt.c, for ns-qmp.c: what a guest's commands do, for the host's */
NvmeNamespace *nvme_ns_mgmt_realize_ns(NvmeCtrl *n, NvmeNsRecord *rec,
                                       Error **errp);
uint16_t nvme_ns_mgmt_create_check(NvmeSubsystem *subsys, const NvmeIdNs *id,
                                   uint8_t csi, uint32_t nsid,
                                   NvmeNsRecord *tmpl);
uint16_t nvme_ns_mgmt_delete_check(NvmeNamespace *ns);
void nvme_ns_mgmt_unlink(NvmeSubsystem *subsys, NvmeNamespace *ns,
                         BlockCompletionFunc *cb, void *opaque);
void nvme_ns_mgmt_unparent(NvmeNamespace *ns);

/*
 * ns-qmp.c: the host side.  NVME_NAMESPACE_CHANGED for namespace NSID of
 * SUBSYS: CHANGE is an NvmeNamespaceChange, made by the guest (GUEST) with
 * a command of controller CNTLID (-1: not known) or by the host; CNTLIDS
 * (LE) are those an attachment changed.
 */
void nvme_ns_event(NvmeSubsystem *subsys, uint32_t nsid, int change,
                   bool guest, int cntlid, const uint16_t *cntlids, int nr);
char *nvme_ns_qmp_subsys_name(NvmeSubsystem *subsys);
/* nvme-ns: may its backend be resized under it, and is it told when? */
bool nvme_ns_resizable(NvmeNamespace *ns);
void nvme_ns_watch_resize(NvmeNamespace *ns);

/* ctrl.c, for ns-mgmt.c */
void nvme_ns_attach_notify(NvmeCtrl *n, NvmeNamespace *ns, bool attach);
void nvme_ns_changed(NvmeCtrl *n, NvmeNamespace *ns);
void nvme_misc_cb(void *opaque, int ret);
uint16_t nvme_h2c(NvmeCtrl *n, void *ptr, uint32_t len, NvmeRequest *req);

#endif /* HW_NVME_NS_MGMT_H */
