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
bool nvme_ns_mgmt_format_done(NvmeNamespace *ns, BlockCompletionFunc *cb,
                              void *opaque);
void nvme_ns_mgmt_id_ctrl(NvmeCtrl *n);
void nvme_ns_mgmt_ctrl_reset(NvmeCtrl *n);
bool nvme_ns_mgmt_id_ns_zoned(NvmeCtrl *n, NvmeIdNsZoned *id);
bool nvme_ns_mgmt_id_ns_common(NvmeCtrl *n, NvmeIdNs *id);

/* ctrl.c, for ns-mgmt.c */
void nvme_ns_attach_notify(NvmeCtrl *n, NvmeNamespace *ns, bool attach);
void nvme_misc_cb(void *opaque, int ret);
uint16_t nvme_h2c(NvmeCtrl *n, void *ptr, uint32_t len, NvmeRequest *req);

#endif /* HW_NVME_NS_MGMT_H */
