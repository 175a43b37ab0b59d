/*
 * QEMU NVM Express: persistent zone state
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The zone state file of a zoned namespace (layout in zns-state.h).  At
 * realize it is created, or loaded and checked against the namespace's
 * geometry; the in-memory zone array, zone lists and resource counters
 * are rebuilt from it, with the power-on transitions a drive applies:
 * zones that were open come back Closed, or Empty when nothing was
 * written and no descriptor extension is valid.  The file is untrusted
 * input: every problem stops the namespace with an error that names the
 * file, and nothing is reinitialised unless the user asks for it
 * (zoned.zone_file_reinit=on).
 */

#include "qemu/osdep.h"
#include <sys/mman.h>
#include "qapi/error.h"
#include "block/thread-pool.h"
#include "qemu/crc32c.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/notify.h"
#include "system/block-backend.h"
#include "system/system.h"

#include "nvme.h"
#include "trace.h"

#define NVME_ZNS_STATE_MAGIC    "QNVMEZS"
#define NVME_ZNS_STATE_VERSION  1
#define NVME_ZNS_STATE_HDR_SIZE 4096

/*
 * On-disk layout, little endian:
 *   header         NVME_ZNS_STATE_HDR_SIZE bytes (NvmeZnsStateHdr, zeroes)
 *   descriptors    nr_zones * NvmeZnsStateZone, at hdr_size
 *   extensions     nr_zones * zd_ext_size bytes, at ext_offset
 * The file is zero-padded to a multiple of the host page size.
 */
typedef struct QEMU_PACKED NvmeZnsStateHdr {
    char     magic[8];
    uint32_t version;
    uint32_t hdr_size;
    uint64_t lba_size;      /* bytes of data per logical block */
    uint64_t zone_size;     /* logical blocks */
    uint64_t zone_cap;      /* logical blocks */
    uint64_t nr_zones;
    uint32_t zd_ext_size;   /* bytes */
    uint32_t desc_size;     /* sizeof(NvmeZnsStateZone) */
    uint64_t ext_offset;
    uint64_t file_size;
    uint8_t  flbas;         /* the format (Identify Namespace FLBAS and */
    uint8_t  dps;           /* DPS) the file was laid out for, and the */
    uint8_t  cl_flbas;      /* one the namespace's properties said then: */
    uint8_t  cl_dps;        /* they differ after a Format NVM */
    uint32_t crc;           /* CRC-32C of the header with crc = 0 */
} NvmeZnsStateHdr;

typedef struct QEMU_PACKED NvmeZnsStateZone {
    uint8_t  state;         /* NvmeZoneState */
    uint8_t  attrs;         /* zone attributes (ZA) */
    uint8_t  rsvd[6];
    uint64_t wp;            /* write pointer, absolute LBA */
    uint64_t zcap;          /* zone capacity, logical blocks */
    uint64_t rsvd2;
} NvmeZnsStateZone;

/*
 * A mapping of the file.  An msync running in a worker thread holds a
 * reference, so that a Format (which maps the file anew) or a removal
 * never unmaps the range under it.  References change in the main loop.
 */
typedef struct NvmeZnsMapping {
    uint8_t *addr;
    size_t size;
    unsigned refs;
} NvmeZnsMapping;

struct NvmeZnsState {
    char *path;
    int fd;
    NvmeZnsMapping *mapping;
    uint8_t *map;           /* mapping->addr */
    size_t size;            /* mapping->size */
    NvmeZnsStateZone *zones;
    Notifier exit_notifier;
};

typedef struct NvmeZnsGeometry {
    uint8_t flbas;
    uint8_t dps;
    uint8_t cl_flbas;
    uint8_t cl_dps;
    uint64_t lba_size;
    uint64_t zone_size;
    uint64_t zone_cap;
    uint64_t nr_zones;
    uint32_t zd_ext_size;
    uint64_t ext_offset;
    uint64_t file_size;
} NvmeZnsGeometry;

/*
 * The format the namespace's properties say (as nvme_ns_init() picks it),
 * which a Format NVM may have changed since.
 */
static void zns_props_format(NvmeNamespace *ns, uint8_t *flbas, uint8_t *dps)
{
    uint8_t ds = 31 - clz32(ns->blkconf.logical_block_size);
    int i;

    for (i = 0; i < ns->nlbaf - 1; i++) {
        if (ns->id_ns.lbaf[i].ds == ds &&
            ns->id_ns.lbaf[i].ms == ns->params.ms) {
            break;
        }
    }
    *flbas = (i & 0xf) | (i >> 4) << 5 |
             (ns->params.ms && ns->params.mset ? NVME_ID_NS_FLBAS_EXTENDED : 0);
    *dps = ns->params.pi |
           (ns->params.pi && ns->params.pil ? NVME_ID_NS_DPS_FIRST_EIGHT : 0);
}

/* The layout of a file of NR zones with G's zone format. */
static void zns_layout(NvmeZnsGeometry *g, uint64_t nr)
{
    g->nr_zones = nr;
    g->ext_offset = ROUND_UP(NVME_ZNS_STATE_HDR_SIZE +
                             g->nr_zones * sizeof(NvmeZnsStateZone), 64);
    g->file_size = ROUND_UP(g->ext_offset + g->nr_zones * g->zd_ext_size,
                            qemu_real_host_page_size());
}

/* The geometry of NS with NR zones. */
static void zns_geometry_nr(NvmeNamespace *ns, uint64_t nr, NvmeZnsGeometry *g)
{
    g->flbas = ns->id_ns.flbas;
    g->dps = ns->id_ns.dps;
    zns_props_format(ns, &g->cl_flbas, &g->cl_dps);
    g->lba_size = ns->lbasz;
    g->zone_size = ns->zone_size;
    g->zone_cap = ns->zone_capacity;
    g->zd_ext_size = ns->params.zd_extension_size;
    zns_layout(g, nr);
}

static void zns_geometry(NvmeNamespace *ns, NvmeZnsGeometry *g)
{
    zns_geometry_nr(ns, ns->num_zones, g);
}

/* Do A and B have the same zone format (their numbers of zones aside)? */
static bool zns_same_format(const NvmeZnsGeometry *a, const NvmeZnsGeometry *b)
{
    return a->flbas == b->flbas && a->dps == b->dps &&
           a->cl_flbas == b->cl_flbas && a->cl_dps == b->cl_dps &&
           a->lba_size == b->lba_size && a->zone_size == b->zone_size &&
           a->zone_cap == b->zone_cap && a->zd_ext_size == b->zd_ext_size;
}

static uint32_t hdr_crc(const NvmeZnsStateHdr *h)
{
    NvmeZnsStateHdr tmp = *h;

    tmp.crc = 0;
    return crc32c(0xffffffff, (const uint8_t *)&tmp, sizeof(tmp));
}

static bool valid_state(uint8_t state)
{
    switch (state) {
    case NVME_ZONE_STATE_EMPTY:
    case NVME_ZONE_STATE_IMPLICITLY_OPEN:
    case NVME_ZONE_STATE_EXPLICITLY_OPEN:
    case NVME_ZONE_STATE_CLOSED:
    case NVME_ZONE_STATE_READ_ONLY:
    case NVME_ZONE_STATE_FULL:
    case NVME_ZONE_STATE_OFFLINE:
        return true;
    default:
        return false;
    }
}

#define ZNS_STATE_ATTRS (NVME_ZA_FINISHED_BY_CTLR |   \
                         NVME_ZA_FINISH_RECOMMENDED | \
                         NVME_ZA_RESET_RECOMMENDED |  \
                         NVME_ZA_ZRWA_VALID |         \
                         NVME_ZA_ZD_EXT_VALID)

static bool zns_map(NvmeZnsState *s, size_t size, Error **errp)
{
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);

    if (map == MAP_FAILED) {
        error_setg_errno(errp, errno, "zone state file '%s': cannot map it",
                         s->path);
        return false;
    }
    s->mapping = g_new(NvmeZnsMapping, 1);
    *s->mapping = (NvmeZnsMapping) { .addr = map, .size = size, .refs = 1 };
    s->map = map;
    s->size = size;
    s->zones = (NvmeZnsStateZone *)(s->map + NVME_ZNS_STATE_HDR_SIZE);
    return true;
}

static void zns_mapping_unref(NvmeZnsMapping *m)
{
    if (--m->refs == 0) {
        munmap(m->addr, m->size);
        g_free(m);
    }
}

static void zns_unmap(NvmeZnsState *s)
{
    if (s->mapping) {
        zns_mapping_unref(s->mapping);
        s->mapping = NULL;
        s->map = NULL;
        s->zones = NULL;
    }
}

static bool zns_msync(NvmeZnsState *s, Error **errp)
{
    if (msync(s->map, s->size, MS_SYNC) < 0) {
        error_setg_errno(errp, errno, "zone state file '%s': sync failed",
                         s->path);
        return false;
    }
    return true;
}

/*
 * Give every page of the file its blocks now: a store into a hole of the
 * mapping that the file system cannot back (a full disk) kills QEMU with
 * SIGBUS.  (Copy-on-write file systems need the file to be nocow.)
 */
static bool zns_allocate(NvmeZnsState *s, uint64_t size, Error **errp)
{
    int ret = posix_fallocate(s->fd, 0, size);

    if (ret) {
        error_setg_errno(errp, ret, "zone state file '%s': cannot allocate "
                         "%" PRIu64 " bytes", s->path, size);
        return false;
    }
    return true;
}

/* Lay the file out anew for G: every zone Empty, then the header. */
static bool zns_lay_out(NvmeZnsState *s, const NvmeZnsGeometry *g,
                        Error **errp)
{
    NvmeZnsStateHdr *h;

    zns_unmap(s);
    if (ftruncate(s->fd, 0) < 0 || ftruncate(s->fd, g->file_size) < 0) {
        error_setg_errno(errp, errno, "zone state file '%s': cannot size it "
                         "to %" PRIu64 " bytes", s->path, g->file_size);
        return false;
    }
    if (!zns_allocate(s, g->file_size, errp) ||
        !zns_map(s, g->file_size, errp)) {
        return false;
    }

    for (uint64_t i = 0; i < g->nr_zones; i++) {
        NvmeZnsStateZone *z = &s->zones[i];

        z->state = NVME_ZONE_STATE_EMPTY;
        z->attrs = 0;
        z->wp = cpu_to_le64(i * g->zone_size);
        z->zcap = cpu_to_le64(g->zone_cap);
    }

    h = (NvmeZnsStateHdr *)s->map;
    memcpy(h->magic, NVME_ZNS_STATE_MAGIC, sizeof(h->magic));
    h->version = cpu_to_le32(NVME_ZNS_STATE_VERSION);
    h->hdr_size = cpu_to_le32(NVME_ZNS_STATE_HDR_SIZE);
    h->lba_size = cpu_to_le64(g->lba_size);
    h->zone_size = cpu_to_le64(g->zone_size);
    h->zone_cap = cpu_to_le64(g->zone_cap);
    h->nr_zones = cpu_to_le64(g->nr_zones);
    h->zd_ext_size = cpu_to_le32(g->zd_ext_size);
    h->desc_size = cpu_to_le32(sizeof(NvmeZnsStateZone));
    h->ext_offset = cpu_to_le64(g->ext_offset);
    h->file_size = cpu_to_le64(g->file_size);
    h->flbas = g->flbas;
    h->dps = g->dps;
    h->cl_flbas = g->cl_flbas;
    h->cl_dps = g->cl_dps;
    h->crc = cpu_to_le32(hdr_crc(h));
    return true;
}

/* The name of the file S, too, is durable. */
static void zns_sync_dir(NvmeZnsState *s)
{
    g_autofree char *dir = g_path_get_dirname(s->path);
    int dirfd;

    dirfd = qemu_open_old(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd >= 0) {
        if (fsync(dirfd) < 0) {
            warn_report("zone state file '%s': cannot sync directory %s: %s",
                        s->path, dir, strerror(errno));
        }
        close(dirfd);
    }
}

/* A new file: every zone Empty, then the header, then make it durable. */
static bool zns_init(NvmeZnsState *s, const NvmeZnsGeometry *g, Error **errp)
{
    if (!zns_lay_out(s, g, errp) || !zns_msync(s, errp)) {
        return false;
    }
    zns_sync_dir(s);
    trace_nvme_zns_state_init(s->path, g->nr_zones, g->file_size);
    return true;
}

static bool check_geometry(NvmeZnsState *s, uint64_t file, uint64_t ns,
                          const char *what, const char *prop, Error **errp)
{
    if (file != ns) {
        error_setg(errp, "zone state file '%s': %s is %" PRIu64 ", the "
                   "namespace has %" PRIu64 " (%s)", s->path, what, file, ns,
                   prop);
        return false;
    }
    return true;
}

/*
 * Was the header ever written?  zns_init() writes it after everything
 * else, so a file whose magic is still all zeroes is one whose creation a
 * crash interrupted; any other bad magic is damage.
 */
static bool zns_initialised(NvmeZnsState *s)
{
    const NvmeZnsStateHdr *h = (const NvmeZnsStateHdr *)s->map;

    return !buffer_is_zero(h->magic, sizeof(h->magic));
}

/*
 * Check the header of an existing file against the namespace, whose
 * geometry is NS_G.  *NR is set to the file's number of zones: fewer than
 * the namespace's only if FEWER_OK (see zns_load_more()).
 */
static bool zns_check_header(NvmeZnsState *s, const NvmeZnsGeometry *ns_g,
                             uint64_t file_size, bool fewer_ok, uint64_t *nr,
                             Error **errp)
{
    const NvmeZnsStateHdr *h = (const NvmeZnsStateHdr *)s->map;
    NvmeZnsGeometry fg = *ns_g;
    const NvmeZnsGeometry *g = &fg;

    if (memcmp(h->magic, NVME_ZNS_STATE_MAGIC, sizeof(h->magic))) {
        error_setg(errp, "zone state file '%s': not a zone state file "
                   "(bad magic)", s->path);
        return false;
    }
    if (le32_to_cpu(h->version) != NVME_ZNS_STATE_VERSION) {
        error_setg(errp, "zone state file '%s': version %u, this QEMU "
                   "reads version %u", s->path, le32_to_cpu(h->version),
                   NVME_ZNS_STATE_VERSION);
        return false;
    }
    if (le32_to_cpu(h->crc) != hdr_crc(h)) {
        error_setg(errp, "zone state file '%s': header checksum mismatch "
                   "(the header is damaged)", s->path);
        return false;
    }
    if (le32_to_cpu(h->hdr_size) != NVME_ZNS_STATE_HDR_SIZE ||
        le32_to_cpu(h->desc_size) != sizeof(NvmeZnsStateZone)) {
        error_setg(errp, "zone state file '%s': unknown header or zone "
                   "descriptor size", s->path);
        return false;
    }
    if (fewer_ok && h->nr_zones && le64_to_cpu(h->nr_zones) < g->nr_zones) {
        zns_layout(&fg, le64_to_cpu(h->nr_zones));
    }
    *nr = g->nr_zones;

    if (!check_geometry(s, le64_to_cpu(h->lba_size), g->lba_size,
                        "the LBA size", "logical_block_size", errp) ||
        !check_geometry(s, le64_to_cpu(h->zone_size), g->zone_size,
                        "the zone size in blocks", "zoned.zone_size",
                        errp) ||
        !check_geometry(s, le64_to_cpu(h->zone_cap), g->zone_cap,
                        "the zone capacity in blocks", "zoned.zone_capacity",
                        errp) ||
        !check_geometry(s, le64_to_cpu(h->nr_zones), g->nr_zones,
                        "the number of zones",
                        "the image size over zoned.zone_size", errp) ||
        !check_geometry(s, le32_to_cpu(h->zd_ext_size), g->zd_ext_size,
                        "the descriptor extension size",
                        "zoned.descr_ext_size", errp)) {
        return false;
    }
    if (le64_to_cpu(h->ext_offset) != g->ext_offset ||
        le64_to_cpu(h->file_size) != g->file_size) {
        error_setg(errp, "zone state file '%s': inconsistent layout",
                   s->path);
        return false;
    }
    if (file_size != g->file_size) {
        error_setg(errp, "zone state file '%s': %" PRIu64 " bytes, expected "
                   "%" PRIu64 " (truncated or extended)", s->path, file_size,
                   g->file_size);
        return false;
    }
    return true;
}

/*
 * Is an existing file one whose zones are all Empty, with no valid
 * descriptor extension, as Format NVM leaves it?  Such a file says nothing
 * that laying it out anew for another geometry would lose.
 */
static bool zns_says_nothing(NvmeZnsState *s, uint64_t file_size)
{
    const NvmeZnsStateHdr *h = (const NvmeZnsStateHdr *)s->map;
    uint64_t nr = le64_to_cpu(h->nr_zones);

    if (memcmp(h->magic, NVME_ZNS_STATE_MAGIC, sizeof(h->magic)) ||
        le32_to_cpu(h->version) != NVME_ZNS_STATE_VERSION ||
        le32_to_cpu(h->crc) != hdr_crc(h) ||
        le32_to_cpu(h->hdr_size) != NVME_ZNS_STATE_HDR_SIZE ||
        le32_to_cpu(h->desc_size) != sizeof(NvmeZnsStateZone) ||
        le64_to_cpu(h->file_size) != file_size ||
        nr > (file_size - NVME_ZNS_STATE_HDR_SIZE) /
             sizeof(NvmeZnsStateZone)) {
        return false;
    }
    for (uint64_t i = 0; i < nr; i++) {
        if (s->zones[i].state != NVME_ZONE_STATE_EMPTY ||
            (s->zones[i].attrs & NVME_ZA_ZD_EXT_VALID)) {
            return false;
        }
    }
    return true;
}

/* Is a zone in STATE active (open or closed)? */
static bool zns_active(uint8_t state)
{
    return state == NVME_ZONE_STATE_IMPLICITLY_OPEN ||
           state == NVME_ZONE_STATE_EXPLICITLY_OPEN ||
           state == NVME_ZONE_STATE_CLOSED;
}

/* Check zone descriptor I of the file. */
static bool zns_check_zone(NvmeZnsState *s, NvmeNamespace *ns, uint64_t i,
                          Error **errp)
{
    const NvmeZnsStateZone *z = &s->zones[i];
    uint64_t zslba = i * ns->zone_size;
    uint64_t wp = le64_to_cpu(z->wp);

    if (!valid_state(z->state)) {
        error_setg(errp, "zone state file '%s': zone %" PRIu64 " has the "
                   "invalid state 0x%x", s->path, i, z->state);
        return false;
    }
    if (z->attrs & ~ZNS_STATE_ATTRS ||
        (z->attrs & NVME_ZA_ZD_EXT_VALID && !ns->params.zd_extension_size) ||
        (z->attrs & NVME_ZA_ZRWA_VALID && (!ns->params.zrwas ||
                                           !zns_active(z->state)))) {
        error_setg(errp, "zone state file '%s': zone %" PRIu64 " has the "
                   "invalid attributes 0x%x", s->path, i, z->attrs);
        return false;
    }
    if (le64_to_cpu(z->zcap) != ns->zone_capacity) {
        error_setg(errp, "zone state file '%s': zone %" PRIu64 " has the "
                   "capacity %" PRIu64 ", not %" PRIu64, s->path, i,
                   (uint64_t)le64_to_cpu(z->zcap), ns->zone_capacity);
        return false;
    }
    if (wp < zslba || wp > zslba + ns->zone_capacity ||
        (z->state == NVME_ZONE_STATE_EMPTY && wp != zslba)) {
        error_setg(errp, "zone state file '%s': zone %" PRIu64 " (state "
                   "0x%x) has the write pointer 0x%" PRIx64 " outside "
                   "[0x%" PRIx64 ", 0x%" PRIx64 "]", s->path, i, z->state,
                   wp, zslba, zslba + ns->zone_capacity);
        return false;
    }
    return true;
}

/* ZONE of NS into the file of S. */
static void zns_store(NvmeZnsState *s, NvmeNamespace *ns, NvmeZone *zone)
{
    NvmeZnsStateZone *z = &s->zones[zone - ns->zone_array];

    z->state = nvme_get_zone_state(zone);
    z->attrs = zone->d.za;
    z->wp = cpu_to_le64(zone->d.wp);
}

/* Zone I of NS as the file has it, on its list, as before the power-off. */
static void zns_load_zone(NvmeZnsState *s, NvmeNamespace *ns, uint64_t i)
{
    const NvmeZnsStateZone *z = &s->zones[i];
    NvmeZone *zone = &ns->zone_array[i];

    zone->d.wp = le64_to_cpu(z->wp);
    zone->w_ptr = zone->d.wp;
    zone->d.za = z->attrs;
    nvme_set_zone_state(zone, z->state);

    switch (z->state) {
    case NVME_ZONE_STATE_IMPLICITLY_OPEN:
        QTAILQ_INSERT_TAIL(&ns->imp_open_zones, zone, entry);
        break;
    case NVME_ZONE_STATE_EXPLICITLY_OPEN:
        QTAILQ_INSERT_TAIL(&ns->exp_open_zones, zone, entry);
        break;
    case NVME_ZONE_STATE_CLOSED:
        QTAILQ_INSERT_TAIL(&ns->closed_zones, zone, entry);
        break;
    case NVME_ZONE_STATE_FULL:
        QTAILQ_INSERT_TAIL(&ns->full_zones, zone, entry);
        break;
    case NVME_ZONE_STATE_READ_ONLY:
        break;
    default:
        /* Empty and Offline zones have no attributes, as upstream's */
        zone->d.za = 0;
        break;
    }
    if (zone->d.za & NVME_ZA_ZRWA_VALID) {
        ns->zns.numzrwa--;
    }
}

/*
 * Load the NR zones of the file; the namespace's others stay Empty.  The
 * power-on transitions are upstream's, those of a controller shutdown
 * (nvme_zoned_ns_shutdown()): a zone that was open is Closed, or Empty if
 * nothing was written and it has no descriptor extension.  They run with
 * the open and active limits lifted (the file may say more than a limit
 * allows until they ran); the active zones are then counted and checked.
 * Only the descriptors that changed are written back: untouched pages
 * stay clean.
 */
static bool zns_load(NvmeZnsState *s, NvmeNamespace *ns, uint64_t nr,
                     Error **errp)
{
    uint32_t max_open = ns->params.max_open_zones;
    uint32_t max_active = ns->params.max_active_zones;
    uint64_t zrwa = 0;
    NvmeZone *zone;

    for (uint64_t i = 0; i < nr; i++) {
        if (!zns_check_zone(s, ns, i, errp)) {
            return false;
        }
        zrwa += !!(s->zones[i].attrs & NVME_ZA_ZRWA_VALID);
    }
    if (zrwa > ns->zns.numzrwa) {
        error_setg(errp, "zone state file '%s': %" PRIu64 " zones have a "
                   "random write area, more than the %" PRIu32 " there are",
                   s->path, zrwa, ns->zns.numzrwa);
        return false;
    }

    ns->params.max_open_zones = ns->params.max_active_zones = 0;
    for (uint64_t i = 0; i < nr; i++) {
        zns_load_zone(s, ns, i);
    }
    nvme_zoned_ns_shutdown(ns);
    ns->params.max_open_zones = max_open;
    ns->params.max_active_zones = max_active;

    ns->nr_open_zones = 0;
    ns->nr_active_zones = 0;
    QTAILQ_FOREACH(zone, &ns->closed_zones, entry) {
        ns->nr_active_zones++;
    }
    if (max_active && ns->nr_active_zones > max_active) {
        error_setg(errp, "zone state file '%s': %d zones are active, more "
                   "than zoned.max_active=%u", s->path, ns->nr_active_zones,
                   max_active);
        return false;
    }
    if (!max_active) {
        /* counted only when there is a limit */
        ns->nr_active_zones = 0;
    }

    for (uint64_t i = 0; i < nr; i++) {
        NvmeZnsStateZone *z = &s->zones[i];

        zone = &ns->zone_array[i];
        if (z->state != nvme_get_zone_state(zone) || z->attrs != zone->d.za) {
            trace_nvme_zns_state_recover(zone->d.zslba, z->state,
                                         nvme_get_zone_state(zone));
            zns_store(s, ns, zone);
        }
    }
    return true;
}

/* The descriptor extensions in the mapping of S */
static uint8_t *zns_ext(NvmeZnsState *s)
{
    const NvmeZnsStateHdr *h = (const NvmeZnsStateHdr *)s->map;

    return s->map + le64_to_cpu(h->ext_offset);
}

/*
 * Copy the first NR zones of SRC (descriptors and EXT_SIZE bytes of
 * extension each) into DST, where they differ.  Did any differ?
 */
static bool zns_copy(NvmeZnsState *dst, NvmeZnsState *src, uint64_t nr,
                     uint32_t ext_size)
{
    uint8_t *dext = zns_ext(dst), *sext = zns_ext(src);
    bool changed = false;

    for (uint64_t i = 0; i < nr; i++) {
        if (memcmp(&dst->zones[i], &src->zones[i], sizeof(dst->zones[i]))) {
            dst->zones[i] = src->zones[i];
            changed = true;
        }
        if (ext_size && memcmp(dext + i * ext_size, sext + i * ext_size,
                               ext_size)) {
            memcpy(dext + i * ext_size, sext + i * ext_size, ext_size);
            changed = true;
        }
    }
    return changed;
}

static void zns_free(NvmeZnsState *s)
{
    zns_unmap(s);
    if (s->fd >= 0) {
        qemu_unlock_fd(s->fd, 0, 0);
        close(s->fd);
    }
    g_free(s->path);
    g_free(s);
}

/* A file laid out anew that did not replace its original: it goes. */
static void zns_discard(NvmeZnsState *t)
{
    if (t) {
        unlink(t->path);
        zns_free(t);
    }
}

/*
 * The file of S laid out anew for G, beside it (the store removes such a
 * file, left by a crash, when it starts): every zone Empty, then the
 * first COMMON zones of S copied into it.  Not yet durable.
 */
static NvmeZnsState *zns_new_file(NvmeZnsState *s, const NvmeZnsGeometry *g,
                                  uint64_t common, Error **errp)
{
    NvmeZnsState *t = g_new0(NvmeZnsState, 1);

    t->path = g_strconcat(s->path, ".tmp", NULL);
    t->fd = qemu_create(t->path, O_RDWR | O_CLOEXEC, 0600, errp);
    if (t->fd < 0) {
        goto fail;
    }
    if (qemu_lock_fd(t->fd, 0, 0, true)) {
        error_setg(errp, "zone state file '%s' is in use by another process",
                   t->path);
        close(t->fd);
        t->fd = -1;
        goto fail;
    }
    if (!zns_lay_out(t, g, errp)) {
        goto fail;
    }
    zns_copy(t, s, common, g->zd_ext_size);
    return t;

fail:
    zns_discard(t);
    return NULL;
}

/*
 * T, durable, replaces the file of S: S takes its name, descriptor and
 * mapping.  On failure T goes and S is as it was.
 */
static bool zns_replace(NvmeZnsState *s, NvmeZnsState *t, Error **errp)
{
    if (rename(t->path, s->path) < 0) {
        error_setg_errno(errp, errno, "zone state file '%s': cannot replace "
                         "it with %s", s->path, t->path);
        zns_discard(t);
        return false;
    }
    zns_unmap(s);
    qemu_unlock_fd(s->fd, 0, 0);
    close(s->fd);
    s->fd = t->fd;
    s->mapping = t->mapping;
    s->map = t->map;
    s->size = t->size;
    s->zones = t->zones;
    g_free(t->path);
    g_free(t);
    return true;
}

/*
 * At realize, a file with fewer zones than the namespace of the store it
 * belongs to: a resize that a crash cut short after the namespace's record
 * took the new size (a grow), or before it did (a shrink, whose zones past
 * the new end were given up).  The file's NR zones are loaded; the others
 * are Empty.  Lay the file out for all of them.
 */
static bool zns_load_more(NvmeZnsState *s, NvmeNamespace *ns, uint64_t nr,
                          Error **errp)
{
    NvmeZnsGeometry g;
    NvmeZnsState *t;

    warn_report("zone state file '%s' has %" PRIu64 " zones, namespace %"
                PRIu32 " has %" PRIu32 " (a resize was cut short): the "
                "zones from %" PRIu64 " on are Empty", s->path, nr,
                ns->params.nsid, ns->num_zones, nr);
    zns_geometry(ns, &g);
    t = zns_new_file(s, &g, nr, errp);
    if (!t) {
        return false;
    }
    if (!zns_msync(t, errp)) {
        zns_discard(t);
        return false;
    }
    if (!zns_replace(s, t, errp)) {
        return false;
    }
    zns_sync_dir(s);
    return true;
}

static void zns_exit_notify(Notifier *notifier, void *data)
{
    NvmeZnsState *s = container_of(notifier, NvmeZnsState, exit_notifier);
    Error *err = NULL;

    if (!zns_msync(s, &err)) {
        error_report_err(err);
    }
}

/* Point the namespace's descriptor extensions into the mapping. */
static void zns_attach(NvmeZnsState *s, NvmeNamespace *ns)
{
    const NvmeZnsStateHdr *h = (const NvmeZnsStateHdr *)s->map;

    ns->zd_extensions = ns->params.zd_extension_size ?
                        s->map + le64_to_cpu(h->ext_offset) : NULL;
    ns->zstate = s;
    s->exit_notifier.notify = zns_exit_notify;
    qemu_add_exit_notifier(&s->exit_notifier);
}

bool nvme_zns_state_open(NvmeNamespace *ns, Error **errp)
{
    const char *path = ns->params.zone_file;
    NvmeZnsState *s = g_new0(NvmeZnsState, 1);
    NvmeZnsGeometry g;
    struct stat st;
    uint64_t nr;
    int64_t start = get_clock();
    Error *err = NULL;

    s->path = g_strdup(path);
    s->fd = qemu_create(path, O_RDWR | O_CLOEXEC, 0600, errp);
    if (s->fd < 0) {
        goto fail;
    }
    if (qemu_lock_fd(s->fd, 0, 0, true)) {
        error_setg(errp, "zone state file '%s' is in use by another process",
                   path);
        close(s->fd);
        s->fd = -1;
        goto fail;
    }
    if (fstat(s->fd, &st) < 0) {
        error_setg_errno(errp, errno, "zone state file '%s': cannot stat it",
                         path);
        goto fail;
    }

    zns_geometry(ns, &g);

    if (st.st_size == 0 || ns->params.zone_file_reinit) {
        if (st.st_size && ns->params.zone_file_reinit) {
            warn_report("zone state file '%s': reinitialised, every zone "
                        "is Empty (zoned.zone_file_reinit=on)", path);
        }
        if (!zns_init(s, &g, errp)) {
            goto fail;
        }
    } else {
        if (st.st_size < NVME_ZNS_STATE_HDR_SIZE) {
            error_setg(errp, "zone state file '%s': %" PRId64 " bytes, too "
                       "short for a header (truncated)", path,
                       (int64_t)st.st_size);
            goto fail;
        }
        if (!zns_map(s, st.st_size, errp)) {
            goto fail;
        }
        if (!zns_initialised(s)) {
            /* the header is written last: an initialisation cut short */
            warn_report("zone state file '%s' was never fully initialised "
                        "(QEMU stopped while creating it); every zone is "
                        "Empty", path);
            if (!zns_init(s, &g, errp)) {
                goto fail;
            }
        } else if (!zns_check_header(s, &g, st.st_size, ns->zstate_grows,
                                     &nr, &err)) {
            /*
             * Laid out for another LBA format, every zone Empty: a Format
             * NVM whose new format the command line or the store's record
             * does not say (yet: a crash cut it short).  Nothing is lost.
             */
            if (!zns_says_nothing(s, st.st_size)) {
                error_propagate(errp, err);
                goto fail;
            }
            warn_report("%s; every zone is Empty: laid out anew for the "
                        "namespace", error_get_pretty(err));
            error_free(err);
            if (!zns_init(s, &g, errp)) {
                goto fail;
            }
        } else if (!zns_allocate(s, st.st_size, errp) ||
                   !zns_load(s, ns, nr, errp) ||
                   (nr < ns->num_zones && !zns_load_more(s, ns, nr, errp))) {
            goto fail;
        }
    }

    zns_attach(s, ns);
    trace_nvme_zns_state_open(path, ns->num_zones, ns->nr_active_zones,
                              (get_clock() - start) / 1000);
    return true;

fail:
    zns_free(s);
    return false;
}

/*
 * The format a Format NVM gave a namespace with a zone state file, as the
 * file's header keeps it: a drive keeps its format across power cycles,
 * so a namespace on the command line (whose properties say the format it
 * was made with) takes it back at realize, before its zones are laid out.
 * Only while the properties say what they said when the file was laid
 * out: properties changed since are the user's, and the loader refuses
 * them.  Nothing happens unless the header is sound and names a format
 * the namespace can take; every other problem is the loader's to report.
 */
void nvme_zns_state_adopt_format(NvmeNamespace *ns)
{
    const char *path = ns->params.zone_file;
    NvmeZnsStateHdr h;
    uint8_t lbaf, flbas, dps;
    const NvmeLBAF *f;
    int fd;

    /*
     * For a namespace of the store, the properties come from its record:
     * the file is ahead of it only when a Format's record write failed.
     */
    fd = qemu_open_old(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    if (pread(fd, &h, sizeof(h), 0) != sizeof(h)) {
        close(fd);
        return;
    }
    close(fd);

    if (memcmp(h.magic, NVME_ZNS_STATE_MAGIC, sizeof(h.magic)) ||
        le32_to_cpu(h.version) != NVME_ZNS_STATE_VERSION ||
        le32_to_cpu(h.crc) != hdr_crc(&h)) {
        return;
    }
    zns_props_format(ns, &flbas, &dps);
    if (h.cl_flbas != flbas || h.cl_dps != dps ||
        (h.flbas == flbas && h.dps == dps)) {
        return;
    }
    lbaf = NVME_ID_NS_FLBAS_INDEX(h.flbas) | ((h.flbas >> 5) & 0x3) << 4;
    if (lbaf > ns->id_ns.nlbaf) {
        return;
    }
    f = &ns->id_ns.lbaf[lbaf];
    if (le64_to_cpu(h.lba_size) != 1ULL << f->ds ||
        ((h.dps & NVME_ID_NS_DPS_TYPE_MASK) && f->ms < 8) ||
        (h.dps & NVME_ID_NS_DPS_TYPE_MASK) > NVME_ID_NS_DPS_TYPE_3 ||
        ns->size < (1 << f->ds) + f->ms ||
        nvme_ns_zoned_format_check(ns, lbaf)) {
        return;
    }

    info_report("zone state file '%s': the namespace keeps LBA format %u "
                "(%u-byte blocks, %u bytes of metadata) from a Format NVM",
                path, lbaf, 1U << f->ds, f->ms);
    trace_nvme_zns_state_adopt_format(path, h.flbas, h.dps);
    ns->id_ns.flbas = h.flbas;
    ns->id_ns.dps = h.dps;
    nvme_ns_init_format(ns);
}

void nvme_zns_state_close(NvmeNamespace *ns)
{
    NvmeZnsState *s = ns->zstate;
    Error *err = NULL;

    if (!s) {
        return;
    }
    if (!zns_msync(s, &err)) {
        error_report_err(err);
    }
    qemu_remove_exit_notifier(&s->exit_notifier);
    ns->zd_extensions = NULL;
    ns->zstate = NULL;
    zns_free(s);
}

/* The I/O path: plain stores into the mapping. */
void nvme_zns_state_update(NvmeNamespace *ns, NvmeZone *zone)
{
    if (ns->zstate) {
        zns_store(ns->zstate, ns, zone);
    }
}

void nvme_zns_state_update_all(NvmeNamespace *ns)
{
    for (uint32_t i = 0; ns->zstate && i < ns->num_zones; i++) {
        nvme_zns_state_update(ns, &ns->zone_array[i]);
    }
}

int nvme_zns_state_sync(NvmeNamespace *ns)
{
    Error *err = NULL;

    if (!ns->zstate) {
        return 0;
    }
    trace_nvme_zns_state_sync(ns->zstate->path);
    if (!zns_msync(ns->zstate, &err)) {
        error_report_err(err);
        return -1;
    }
    return 0;
}

typedef struct NvmeZnsSyncJob {
    NvmeZnsMapping *mapping;
    char *path;
    BlockCompletionFunc *cb;
    void *opaque;
} NvmeZnsSyncJob;

/* In a worker thread: only the job's own fields. */
static int zns_sync_worker(void *opaque)
{
    NvmeZnsSyncJob *job = opaque;

    if (msync(job->mapping->addr, job->mapping->size, MS_SYNC) < 0) {
        return -errno;
    }
    return 0;
}

static void zns_sync_done(void *opaque, int ret)
{
    NvmeZnsSyncJob *job = opaque;

    trace_nvme_zns_state_sync_done(job->path, ret);
    if (ret < 0 && ret != -ECANCELED) {
        error_report("zone state file '%s': sync failed: %s", job->path,
                     strerror(-ret));
    }
    if (job->cb) {
        job->cb(job->opaque, ret);
    }
    zns_mapping_unref(job->mapping);
    g_free(job->path);
    g_free(job);
}

/* The msync of the mapping of S in a worker thread; CB gets the result. */
static BlockAIOCB *zns_sync_aio(NvmeZnsState *s, BlockCompletionFunc *cb,
                                void *opaque)
{
    NvmeZnsSyncJob *job;

    trace_nvme_zns_state_sync(s->path);
    job = g_new(NvmeZnsSyncJob, 1);
    *job = (NvmeZnsSyncJob) {
        .mapping = s->mapping,
        .path = g_strdup(s->path),
        .cb = cb,
        .opaque = opaque,
    };
    s->mapping->refs++;
    return thread_pool_submit_aio(zns_sync_worker, job, zns_sync_done, job);
}

/*
 * The msync of a durability point, in a worker thread: the main loop (and
 * with it every vCPU's MMIO) does not wait for the disk.  CB, if any, gets
 * 0 once the zone state is durable, or a negative errno.  Returns the
 * request, which the caller may cancel, or NULL (and calls nothing) when
 * the namespace has no zone state file.
 */
BlockAIOCB *nvme_zns_state_sync_aio(NvmeNamespace *ns,
                                    BlockCompletionFunc *cb, void *opaque)
{
    return ns->zstate ? zns_sync_aio(ns->zstate, cb, opaque) : NULL;
}

/*
 * A durability point outside a Flush command (controller reset): the
 * commands in flight finish, then the data is flushed, then the zone state
 * that describes it.
 */
void nvme_zns_state_flush(NvmeNamespace *ns)
{
    if (ns->zstate) {
        blk_drain(ns->blkconf.blk);
        blk_flush(ns->blkconf.blk);
        nvme_zns_state_sync(ns);
    }
}

static void zns_flush_done(void *opaque, int ret)
{
    NvmeNamespace *ns = opaque;

    /* the namespace may have been deleted meanwhile: zstate is NULL then */
    if (ret == 0) {
        nvme_zns_state_sync_aio(ns, NULL, NULL);
    }
    object_unref(OBJECT(ns));
}

/*
 * The same durability point from a command handler (detach): the data
 * flush runs asynchronously, so no other command runs in a nested event
 * loop while the caller still uses the namespace.  The namespace is held
 * until the flush completes.
 */
void nvme_zns_state_flush_async(NvmeNamespace *ns)
{
    if (ns->zstate) {
        object_ref(OBJECT(ns));
        blk_aio_flush(ns->blkconf.blk, zns_flush_done, ns);
    }
}

/*
 * After a Format NVM: the zone array was rebuilt for the new format, every
 * zone Empty.  Lay the file out anew for that geometry.
 */
int nvme_zns_state_reformat(NvmeNamespace *ns, Error **errp)
{
    NvmeZnsState *s = ns->zstate;
    NvmeZnsGeometry g;

    if (!s) {
        return 0;
    }
    zns_geometry(ns, &g);
    if (!zns_init(s, &g, errp)) {
        /*
         * The zones go on in memory only, as those of a namespace without
         * a zone state file, whose extensions ns.c keeps.
         */
        qemu_remove_exit_notifier(&s->exit_notifier);
        ns->zstate = NULL;
        zns_free(s);
        g_free(ns->params.zone_file);
        ns->params.zone_file = NULL;
        ns->zd_extensions = g.zd_ext_size ?
                            g_malloc0(g.nr_zones * g.zd_ext_size) : NULL;
        return -1;
    }
    ns->zd_extensions = g.zd_ext_size ? s->map + g.ext_offset : NULL;
    return 0;
}

/*
 * Move list HEAD of NS from the zone array OLD to the new one, in its
 * order; the zones past NR leave it.
 */
#define ZNS_MOVE_LIST(ns, head, old, nr)                                 \
    do {                                                                \
        typeof((ns)->head) old_head_ = (ns)->head;                      \
        NvmeZone *z_;                                                   \
                                                                        \
        QTAILQ_INIT(&(ns)->head);                                       \
        QTAILQ_FOREACH(z_, &old_head_, entry) {                         \
            if (z_ - (old) < (nr)) {                                    \
                QTAILQ_INSERT_TAIL(&(ns)->head,                         \
                                   &(ns)->zone_array[z_ - (old)], entry); \
            }                                                           \
        }                                                               \
    } while (0)

/* ZONE goes: the open, active and ZRWA resources it holds are free. */
static void zns_release_zone(NvmeNamespace *ns, NvmeZone *zone)
{
    switch (nvme_get_zone_state(zone)) {
    case NVME_ZONE_STATE_IMPLICITLY_OPEN:
    case NVME_ZONE_STATE_EXPLICITLY_OPEN:
        nvme_aor_dec_open(ns);
        nvme_aor_dec_active(ns);
        break;
    case NVME_ZONE_STATE_CLOSED:
        nvme_aor_dec_active(ns);
        break;
    default:
        break;
    }
    if (zone->d.za & NVME_ZA_ZRWA_VALID) {
        ns->zns.numzrwa++;
    }
}

/*
 * The zones of NS in memory become NR: those past NR go, new ones are
 * Empty.  The array moves, so no command may hold a zone (a Zone Reset
 * does): see nvme_ns_zone_reset_busy().
 */
static void zns_resize_zones(NvmeNamespace *ns, uint64_t nr)
{
    NvmeZone *old = ns->zone_array;
    uint64_t old_nr = ns->num_zones;
    uint32_t ext_size = ns->params.zd_extension_size;

    for (uint64_t i = nr; i < old_nr; i++) {
        zns_release_zone(ns, &old[i]);
    }
    ns->zone_array = g_new0(NvmeZone, nr);
    memcpy(ns->zone_array, old, MIN(nr, old_nr) * sizeof(NvmeZone));
    for (uint64_t i = old_nr; i < nr; i++) {
        NvmeZone *zone = &ns->zone_array[i];

        zone->d.zt = NVME_ZONE_TYPE_SEQ_WRITE;
        nvme_set_zone_state(zone, NVME_ZONE_STATE_EMPTY);
        zone->d.zcap = ns->zone_capacity;
        zone->d.zslba = i * ns->zone_size;
        zone->d.wp = zone->d.zslba;
        zone->w_ptr = zone->d.zslba;
    }
    ZNS_MOVE_LIST(ns, exp_open_zones, old, nr);
    ZNS_MOVE_LIST(ns, imp_open_zones, old, nr);
    ZNS_MOVE_LIST(ns, closed_zones, old, nr);
    ZNS_MOVE_LIST(ns, full_zones, old, nr);
    g_free(old);

    /* without zoned.numzrwa every zone may have a random write area */
    if (ns->params.zrwas && !ns->params.numzrwa) {
        ns->zns.numzrwa = ns->zns.numzrwa + nr - old_nr;
    }
    if (ns->zstate) {
        ns->zd_extensions = ext_size ? zns_ext(ns->zstate) : NULL;
    } else if (ext_size) {
        ns->zd_extensions = g_realloc(ns->zd_extensions, nr * ext_size);
        if (nr > old_nr) {
            memset(ns->zd_extensions + old_nr * ext_size, 0,
                   (nr - old_nr) * ext_size);
        }
    }
    ns->num_zones = nr;
}

struct NvmeZnsResize {
    NvmeZnsGeometry g;      /* of the namespace, with its new zones */
    NvmeZnsState *file;     /* its zone state file laid out for them */
};

NvmeZnsResize *nvme_zns_resize_prepare(NvmeNamespace *ns, uint64_t nr_zones,
                                       Error **errp)
{
    NvmeZnsResize *r = g_new0(NvmeZnsResize, 1);

    zns_geometry_nr(ns, nr_zones, &r->g);
    if (ns->zstate) {
        r->file = zns_new_file(ns->zstate, &r->g,
                               MIN(nr_zones, ns->num_zones), errp);
        if (!r->file) {
            g_free(r);
            return NULL;
        }
    }
    return r;
}

BlockAIOCB *nvme_zns_resize_sync_aio(NvmeZnsResize *r,
                                     BlockCompletionFunc *cb, void *opaque)
{
    return r->file ? zns_sync_aio(r->file, cb, opaque) : NULL;
}

void nvme_zns_resize_abort(NvmeZnsResize *r)
{
    if (r) {
        zns_discard(r->file);
        g_free(r);
    }
}

bool nvme_zns_resize_current(NvmeZnsResize *r, NvmeNamespace *ns)
{
    NvmeZnsGeometry g;

    zns_geometry_nr(ns, r->g.nr_zones, &g);
    return zns_same_format(&g, &r->g) && !r->file == !ns->zstate;
}

bool nvme_zns_resize_commit(NvmeZnsResize *r, NvmeNamespace *ns,
                            Error **errp)
{
    NvmeZnsState *s = ns->zstate;
    uint64_t nr = r->g.nr_zones;
    bool ok = false;

    if (!nvme_zns_resize_current(r, ns)) {
        error_setg(errp, "namespace %" PRIu32 " was formatted meanwhile",
                   ns->params.nsid);
        goto out;
    }
    if (s) {
        /* zones that changed since the sync: only their pages are written */
        if (zns_copy(r->file, s, MIN(nr, ns->num_zones), r->g.zd_ext_size) &&
            !zns_msync(r->file, errp)) {
            goto out;
        }
        if (!zns_replace(s, r->file, errp)) {
            r->file = NULL;
            goto out;
        }
        r->file = NULL;
    }
    trace_nvme_zns_state_resize(s ? s->path : "", ns->num_zones, nr);
    zns_resize_zones(ns, nr);
    ok = true;
out:
    nvme_zns_resize_abort(r);
    return ok;
}
