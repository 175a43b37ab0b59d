/*
 * QEMU NVM Express: the namespace store commands without NVMe
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qapi/nvme.json is part of every system emulator's schema; one built
 * without the NVMe controller (CONFIG_NVME_PCI off: a target without PCI,
 * or --without-default-devices) answers its commands with this error.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-nvme.h"

static void no_nvme(const char *name, Error **errp)
{
    error_setg(errp, "'%s' is neither an nvme-subsys nor an nvme device: "
               "this QEMU has no NVMe controller", name);
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
    no_nvme(name, errp);
    return NULL;
}

void qmp_nvme_ns_delete(const char *name, uint32_t nsid, Error **errp)
{
    no_nvme(name, errp);
}

void qmp_nvme_ns_attach(const char *name, uint32_t nsid,
                        uint16List *controllers, Error **errp)
{
    no_nvme(name, errp);
}

void qmp_nvme_ns_detach(const char *name, uint32_t nsid,
                        uint16List *controllers, Error **errp)
{
    no_nvme(name, errp);
}

void qmp_nvme_ns_resize(const char *name, uint32_t nsid, uint64_t size,
                        bool has_force, bool force, Error **errp)
{
    no_nvme(name, errp);
}

NvmeStoreInfo *qmp_query_nvme_namespaces(const char *name, Error **errp)
{
    no_nvme(name, errp);
    return NULL;
}
