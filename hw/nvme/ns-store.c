/*
 * QEMU NVM Express: persistent namespace store
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Layout of a store directory:
 *
 *   store.json           {"schema": 1, "tnvmcap": BYTES}
 *   store.lock           held (OFD lock) while a QEMU process uses the store
 *   ns-UUID.json         one record per namespace (see record_to_qdict)
 *   ns-UUID.img          its raw image, sparse
 *   ns-UUID.zones        the zone state of a zoned namespace (zns-state.c)
 *   deleted-ns-UUID-T.*  images and zone files kept aside by delete with
 *                        purge off
 *
 * Every file this code reads is untrusted: each error names the file and
 * the key or the problem, and nothing is repaired or removed behind the
 * user's back (but for our own temporary files, which a crash may leave).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/cutils.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "qemu/queue.h"
#include "block/block-common.h"
#include "block/block-global-state.h"
#include "block/nvme.h"
#include "block/aio-wait.h"
#include "block/thread-pool.h"

#include "ns-store.h"
#include "trace.h"

#define STORE_RECORD "store.json"
#define STORE_LOCK   "store.lock"
#define TMP_SUFFIX   ".tmp"

struct NvmeNsStore {
    char *dir;
    int dirfd;
    int lockfd;
    bool purge;
    uint64_t tnvmcap;
    uint64_t allocated;
    NvmeNsRecord *ns[NVME_NS_STORE_MAX_NSID + 1];
    QSIMPLEQ_HEAD(, StoreJob) jobs;   /* the first one runs */
    bool job_running;                 /* the first one was submitted */
    bool failed;
};

static char *store_path(NvmeNsStore *s, const char *name)
{
    return g_build_filename(s->dir, name, NULL);
}

static bool store_sync_dir(NvmeNsStore *s, Error **errp)
{
    if (fsync(s->dirfd) < 0) {
        error_setg_errno(errp, errno, "%s: cannot sync the directory", s->dir);
        return false;
    }
    return true;
}

/*
 * Replace NAME by CONTENTS atomically and durably.  Not GLib's
 * g_file_set_contents_full(): it does not sync the directory, and its
 * random temporary names could not be told from a user's files after a
 * crash (ours end in TMP_SUFFIX and are removed at the next start).
 */
static bool store_write_file(NvmeNsStore *s, const char *name,
                            const GString *contents, Error **errp)
{
    g_autofree char *path = store_path(s, name);
    g_autofree char *tmp = g_strconcat(path, TMP_SUFFIX, NULL);
    int fd;

    fd = qemu_create(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC, 0600, errp);
    if (fd < 0) {
        return false;
    }
    if (qemu_write_full(fd, contents->str, contents->len) != contents->len) {
        error_setg_errno(errp, errno, "%s: write failed", tmp);
        goto fail;
    }
    if (qemu_fdatasync(fd) < 0) {
        error_setg_errno(errp, errno, "%s: sync failed", tmp);
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        error_setg_errno(errp, errno, "%s: close failed", tmp);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        error_setg_errno(errp, errno, "%s: cannot rename to %s", tmp, name);
        goto fail;
    }
    return store_sync_dir(s, errp);

fail:
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    return false;
}

static bool store_write_qdict(NvmeNsStore *s, const char *name, QDict *d,
                             Error **errp)
{
    g_autoptr(GString) json = qobject_to_json_pretty(QOBJECT(d), true);

    g_string_append_c(json, '\n');
    return store_write_file(s, name, json, errp);
}

/* Parse FILE (a name in the store) as a JSON object. */
static QDict *store_read_qdict(NvmeNsStore *s, const char *name,
                               Error **errp)
{
    g_autofree char *path = store_path(s, name);
    g_autofree char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    Error *local_err = NULL;
    QObject *obj;
    QDict *d;
    gsize len;

    if (!g_file_get_contents(path, &text, &len, &gerr)) {
        error_setg(errp, "%s: %s", path, gerr->message);
        return NULL;
    }
    if (strlen(text) != len) {
        error_setg(errp, "%s: not a JSON record (NUL byte)", path);
        return NULL;
    }
    obj = qobject_from_json(text, &local_err);
    if (!obj) {
        error_setg(errp, "%s: not valid JSON (truncated or damaged?): %s",
                   path, local_err ? error_get_pretty(local_err) : "empty");
        error_free(local_err);
        return NULL;
    }
    d = qobject_to(QDict, obj);
    if (!d) {
        error_setg(errp, "%s: not a JSON object", path);
        qobject_unref(obj);
    }
    return d;
}

static QObject *get_key(QDict *d, const char *path, const char *key,
                        QType type, const char *what, Error **errp)
{
    QObject *o = qdict_get(d, key);

    if (!o) {
        error_setg(errp, "%s: key '%s' is missing", path, key);
        return NULL;
    }
    if (qobject_type(o) != type) {
        error_setg(errp, "%s: key '%s' must be %s", path, key, what);
        return NULL;
    }
    return o;
}

static bool get_uint(QDict *d, const char *path, const char *key,
                     uint64_t min, uint64_t max, uint64_t *val, Error **errp)
{
    QObject *o = get_key(d, path, key, QTYPE_QNUM, "a number", errp);

    if (!o) {
        return false;
    }
    if (!qnum_get_try_uint(qobject_to(QNum, o), val) ||
        *val < min || *val > max) {
        error_setg(errp, "%s: key '%s' is out of range (%" PRIu64 " to %"
                   PRIu64 ")", path, key, min, max);
        return false;
    }
    return true;
}

static bool get_bool(QDict *d, const char *path, const char *key, bool *val,
                     Error **errp)
{
    QObject *o = get_key(d, path, key, QTYPE_QBOOL, "true or false", errp);

    if (!o) {
        return false;
    }
    *val = qbool_get_bool(qobject_to(QBool, o));
    return true;
}

static const char *get_str(QDict *d, const char *path, const char *key,
                           Error **errp)
{
    QObject *o = get_key(d, path, key, QTYPE_QSTRING, "a string", errp);

    return o ? qstring_get_str(qobject_to(QString, o)) : NULL;
}

static bool check_keys(QDict *d, const char *path, const char *const *keys,
                       Error **errp)
{
    const QDictEntry *e;

    for (e = qdict_first(d); e; e = qdict_next(d, e)) {
        if (!g_strv_contains(keys, qdict_entry_key(e))) {
            error_setg(errp, "%s: unknown key '%s'", path, qdict_entry_key(e));
            return false;
        }
    }
    return true;
}

static bool check_schema(QDict *d, const char *path, Error **errp)
{
    uint64_t v;

    if (!get_uint(d, path, "schema", 0, UINT32_MAX, &v, errp)) {
        return false;
    }
    if (v != NVME_NS_STORE_SCHEMA) {
        error_setg(errp, "%s: schema version %" PRIu64 " is not supported "
                   "(this QEMU reads version %d)", path, v,
                   NVME_NS_STORE_SCHEMA);
        return false;
    }
    return true;
}

static char *image_name(const QemuUUID *uuid)
{
    g_autofree char *u = qemu_uuid_unparse_strdup(uuid);

    return g_strdup_printf("ns-%s.img", u);
}

static char *zone_file_name(const QemuUUID *uuid)
{
    g_autofree char *u = qemu_uuid_unparse_strdup(uuid);

    return g_strdup_printf("ns-%s.zones", u);
}

static char *record_name(const QemuUUID *uuid)
{
    g_autofree char *u = qemu_uuid_unparse_strdup(uuid);

    return g_strdup_printf("ns-%s.json", u);
}

static QDict *record_to_qdict(const NvmeNsRecord *rec)
{
    QDict *d = qdict_new();
    QList *att = qlist_new();
    g_autofree char *uuid = qemu_uuid_unparse_strdup(&rec->uuid);
    long c;

    qdict_put_int(d, "schema", NVME_NS_STORE_SCHEMA);
    qdict_put_int(d, "nsid", rec->nsid);
    qdict_put_str(d, "uuid", uuid);
    qdict_put_int(d, "csi", rec->csi);
    qdict_put_int(d, "lbaf", rec->lbaf);
    qdict_put_bool(d, "mset", rec->mset);
    qdict_put_int(d, "pi", rec->pi);
    qdict_put_bool(d, "pil", rec->pil);
    qdict_put_bool(d, "shared", rec->shared);
    qdict_put(d, "nsze", qnum_from_uint(rec->nsze));
    qdict_put(d, "size", qnum_from_uint(rec->size));
    qdict_put_str(d, "image", rec->image);
    for (c = find_first_bit(rec->attached, NVME_NS_STORE_MAX_CTRLS);
         c < NVME_NS_STORE_MAX_CTRLS;
         c = find_next_bit(rec->attached, NVME_NS_STORE_MAX_CTRLS, c + 1)) {
        qlist_append_int(att, c);
    }
    qdict_put(d, "attached", att);
    if (rec->zone_file) {
        QDict *z = qdict_new();

        qdict_put(z, "zone_size", qnum_from_uint(rec->zoned.zone_size));
        qdict_put(z, "zone_cap", qnum_from_uint(rec->zoned.zone_cap));
        qdict_put_int(z, "descr_ext_size", rec->zoned.descr_ext_size);
        qdict_put_int(z, "max_open", rec->zoned.max_open);
        qdict_put_int(z, "max_active", rec->zoned.max_active);
        qdict_put_str(z, "zone_file", rec->zone_file);
        qdict_put(d, "zoned", z);
    }
    return d;
}

static const char *const record_keys[] = {
    "schema", "nsid", "uuid", "csi", "lbaf", "mset", "pi", "pil", "shared",
    "nsze", "size", "image", "attached", "zoned", NULL
};

static const char *const zoned_keys[] = {
    "zone_size", "zone_cap", "descr_ext_size", "max_open", "max_active",
    "zone_file", NULL
};

static bool record_get_attached(QDict *d, const char *path, NvmeNsRecord *rec,
                                Error **errp)
{
    QObject *o = get_key(d, path, "attached", QTYPE_QLIST,
                         "a list of controller ids", errp);
    const QListEntry *e;
    uint64_t c;

    if (!o) {
        return false;
    }
    QLIST_FOREACH_ENTRY(qobject_to(QList, o), e) {
        QNum *n = qobject_to(QNum, qlist_entry_obj(e));

        if (!n || !qnum_get_try_uint(n, &c) ||
            c >= NVME_NS_STORE_MAX_CTRLS) {
            error_setg(errp, "%s: key 'attached' holds a value that is not "
                       "a controller id (0 to %d)", path,
                       NVME_NS_STORE_MAX_CTRLS - 1);
            return false;
        }
        set_bit(c, rec->attached);
    }
    return true;
}

/* A file name inside the store directory, nothing else. */
static bool is_plain_name(const char *name)
{
    return name[0] && name[0] != '.' && !strchr(name, '/');
}

/* Check that NAME (from key KEY) is a regular file in the store. */
static bool check_file(NvmeNsStore *s, const char *path, const char *key,
                       const char *name, struct stat *st, Error **errp)
{
    g_autofree char *fpath = store_path(s, name);

    if (stat(fpath, st) < 0) {
        error_setg_errno(errp, errno, "%s: %s %s", path, key, name);
        return false;
    }
    if (!S_ISREG(st->st_mode)) {
        error_setg(errp, "%s: %s %s is not a regular file", path, key, name);
        return false;
    }
    return true;
}

/* The LBA formats of nvme-ns, which a create offers too. */
const NvmeLBAF nvme_lbaf_defaults[NVME_NS_DEFAULT_NLBAF] = {
    [0] = { .ds =  9           },
    [1] = { .ds =  9, .ms =  8 },
    [2] = { .ds =  9, .ms = 16 },
    [3] = { .ds =  9, .ms = 64 },
    [4] = { .ds = 12           },
    [5] = { .ds = 12, .ms =  8 },
    [6] = { .ds = 12, .ms = 16 },
    [7] = { .ds = 12, .ms = 64 },
};

/* Bytes a namespace of NSZE blocks in LBA format LBAF takes. */
bool nvme_ns_bytes(uint8_t lbaf, uint64_t nsze, uint64_t *bytes)
{
    const NvmeLBAF *f = &nvme_lbaf_defaults[lbaf];

    return !__builtin_mul_overflow(nsze, (1ULL << f->ds) + f->ms, bytes) &&
           *bytes <= INT64_MAX;
}

/*
 * Check a zone format; WHAT names its source in errors.  Sizes are whole
 * 4 KiB units, so that every LBA format has whole zones.
 */
bool nvme_ns_store_zone_fmt_check(const NvmeNsZoneFormat *zf, const char *what,
                                  Error **errp)
{
    if (!zf->zone_size || zf->zone_size % 4096) {
        error_setg(errp, "%s: the zone size (%" PRIu64 ") must be a "
                   "non-zero multiple of 4 KiB", what, zf->zone_size);
        return false;
    }
    if (!zf->zone_cap || zf->zone_cap % 4096 ||
        zf->zone_cap > zf->zone_size) {
        error_setg(errp, "%s: the zone capacity (%" PRIu64 ") must be a "
                   "non-zero multiple of 4 KiB, at most the zone size", what,
                   zf->zone_cap);
        return false;
    }
    if (zf->descr_ext_size % 64 || zf->descr_ext_size > 255 * 64) {
        error_setg(errp, "%s: the zone descriptor extension size (%u) must "
                   "be a multiple of 64, at most 16320", what,
                   zf->descr_ext_size);
        return false;
    }
    if (zf->max_active && zf->max_open > zf->max_active) {
        error_setg(errp, "%s: max open zones (%u) exceed max active zones "
                   "(%u)", what, zf->max_open, zf->max_active);
        return false;
    }
    return true;
}

/* Logical blocks per zone of zone format ZF in LBA format LBAF. */
uint64_t nvme_ns_zone_blocks(const NvmeNsZoneFormat *zf, uint8_t lbaf)
{
    return zf->zone_size >> nvme_lbaf_defaults[lbaf].ds;
}

/* That a record read from PATH describes a namespace this QEMU can make. */
static bool record_check(NvmeNsRecord *rec, const char *path, Error **errp)
{
    bool zoned = rec->csi == NVME_CSI_ZONED;
    uint64_t bytes, slack;

    if (rec->csi != NVME_CSI_NVM && !zoned) {
        error_setg(errp, "%s: key 'csi' is %u, an I/O command set this "
                   "controller cannot create", path, rec->csi);
        return false;
    }
    if (rec->lbaf >= NVME_NS_DEFAULT_NLBAF) {
        error_setg(errp, "%s: key 'lbaf' is %u, not one of the %d LBA "
                   "formats", path, rec->lbaf, NVME_NS_DEFAULT_NLBAF);
        return false;
    }
    if (rec->pi && nvme_lbaf_defaults[rec->lbaf].ms < 8) {
        error_setg(errp, "%s: key 'pi' needs an LBA format with metadata",
                   path);
        return false;
    }
    if (zoned) {
        g_autofree char *what = g_strdup_printf("%s: key 'zoned'", path);

        if (!nvme_ns_store_zone_fmt_check(&rec->zoned, what, errp)) {
            return false;
        }
        if (rec->nsze % nvme_ns_zone_blocks(&rec->zoned, rec->lbaf)) {
            error_setg(errp, "%s: key 'nsze' (%" PRIu64 ") is not a whole "
                       "number of zones", path, rec->nsze);
            return false;
        }
    }

    /* the image holds NSZE blocks; zones may leave less than one unused */
    slack = (1ULL << nvme_lbaf_defaults[rec->lbaf].ds) +
            nvme_lbaf_defaults[rec->lbaf].ms;
    if (zoned) {
        slack *= nvme_ns_zone_blocks(&rec->zoned, rec->lbaf);
    }
    if (!nvme_ns_bytes(rec->lbaf, rec->nsze, &bytes) || bytes > rec->size ||
        rec->size - bytes >= slack) {
        error_setg(errp, "%s: key 'nsze' (%" PRIu64 ") does not fit key "
                   "'size' (%" PRIu64 ") in LBA format %u", path, rec->nsze,
                   rec->size, rec->lbaf);
        return false;
    }
    return true;
}

/* The "zoned" object of the record of a zoned namespace. */
static bool record_get_zoned(NvmeNsStore *s, QDict *d, const char *path,
                             NvmeNsRecord *rec, Error **errp)
{
    g_autofree char *zpath = g_strdup_printf("%s: key 'zoned'", path);
    NvmeNsZoneFormat *zf = &rec->zoned;
    QObject *o;
    QDict *z;
    const char *str;
    struct stat st;
    uint64_t v;

    if (rec->csi != NVME_CSI_ZONED) {
        if (qdict_haskey(d, "zoned")) {
            error_setg(errp, "%s: key 'zoned' is only for zoned namespaces "
                       "(csi 2)", path);
            return false;
        }
        return true;
    }

    o = get_key(d, path, "zoned", QTYPE_QDICT, "an object", errp);
    if (!o) {
        return false;
    }
    z = qobject_to(QDict, o);
    if (!get_uint(z, zpath, "zone_size", 1, INT64_MAX, &zf->zone_size,
                  errp) ||
        !get_uint(z, zpath, "zone_cap", 1, INT64_MAX, &zf->zone_cap, errp)) {
        return false;
    }
    if (!get_uint(z, zpath, "descr_ext_size", 0, 255 * 64, &v, errp)) {
        return false;
    }
    zf->descr_ext_size = v;
    if (!get_uint(z, zpath, "max_open", 0, UINT32_MAX, &v, errp)) {
        return false;
    }
    zf->max_open = v;
    if (!get_uint(z, zpath, "max_active", 0, UINT32_MAX, &v, errp)) {
        return false;
    }
    zf->max_active = v;
    str = get_str(z, zpath, "zone_file", errp);
    if (!str) {
        return false;
    }
    if (!is_plain_name(str) || !g_str_has_suffix(str, ".zones")) {
        error_setg(errp, "%s: key 'zoned.zone_file' must name a .zones file "
                   "in the store directory", path);
        return false;
    }
    if (!check_keys(z, zpath, zoned_keys, errp) ||
        !check_file(s, path, "zone file", str, &st, errp)) {
        return false;
    }
    rec->zone_file = g_strdup(str);
    return true;
}

static NvmeNsRecord *record_from_qdict(NvmeNsStore *s, QDict *d,
                                       const char *name, Error **errp)
{
    g_autofree char *path = store_path(s, name);
    g_autofree NvmeNsRecord *rec = g_new0(NvmeNsRecord, 1);
    const char *str;
    struct stat st;
    uint64_t v;

    if (!check_schema(d, path, errp)) {
        return NULL;
    }
    if (!get_uint(d, path, "nsid", 1, NVME_NS_STORE_MAX_NSID, &v, errp)) {
        return NULL;
    }
    rec->nsid = v;
    str = get_str(d, path, "uuid", errp);
    if (!str) {
        return NULL;
    }
    if (qemu_uuid_parse(str, &rec->uuid) < 0 ||
        qemu_uuid_is_null(&rec->uuid)) {
        error_setg(errp, "%s: key 'uuid' is not a valid UUID", path);
        return NULL;
    }
    if (!get_uint(d, path, "csi", 0, 0xff, &v, errp)) {
        return NULL;
    }
    rec->csi = v;
    if (!get_uint(d, path, "lbaf", 0, 63, &v, errp)) {
        return NULL;
    }
    rec->lbaf = v;
    if (!get_uint(d, path, "pi", 0, 3, &v, errp)) {
        return NULL;
    }
    rec->pi = v;
    if (!get_bool(d, path, "mset", &rec->mset, errp) ||
        !get_bool(d, path, "pil", &rec->pil, errp) ||
        !get_bool(d, path, "shared", &rec->shared, errp) ||
        !get_uint(d, path, "nsze", 1, INT64_MAX, &rec->nsze, errp) ||
        !get_uint(d, path, "size", 1, INT64_MAX, &rec->size, errp) ||
        !record_get_attached(d, path, rec, errp)) {
        return NULL;
    }
    str = get_str(d, path, "image", errp);
    if (!str) {
        return NULL;
    }
    if (!is_plain_name(str) || !g_str_has_suffix(str, ".img")) {
        error_setg(errp, "%s: key 'image' must name a .img file in the "
                   "store directory", path);
        return NULL;
    }
    /* after the keys we need: a renamed key is reported as missing */
    if (!check_keys(d, path, record_keys, errp) ||
        !check_file(s, path, "image", str, &st, errp)) {
        return NULL;
    }
    /* a write to the last sector may have rounded it up to a whole one */
    if (st.st_size < rec->size ||
        st.st_size > ROUND_UP(rec->size, BDRV_SECTOR_SIZE)) {
        error_setg(errp, "%s: image %s is %" PRId64 " bytes, the record "
                   "says %" PRIu64, path, str, (int64_t)st.st_size,
                   rec->size);
        return NULL;
    }

    if (!record_get_zoned(s, d, path, rec, errp)) {
        return NULL;
    }
    if (!record_check(rec, path, errp)) {
        g_free(rec->zone_file);
        return NULL;
    }

    rec->image = g_strdup(str);
    rec->record = g_strdup(name);
    return g_steal_pointer(&rec);
}

static void record_free(NvmeNsRecord *rec)
{
    if (rec) {
        g_free(rec->image);
        g_free(rec->record);
        g_free(rec->zone_file);
        g_free(rec);
    }
}

static bool store_write_meta(NvmeNsStore *s, Error **errp)
{
    g_autoptr(QDict) d = qdict_new();

    qdict_put_int(d, "schema", NVME_NS_STORE_SCHEMA);
    qdict_put(d, "tnvmcap", qnum_from_uint(s->tnvmcap));
    return store_write_qdict(s, STORE_RECORD, d, errp);
}

static const char *const meta_keys[] = { "schema", "tnvmcap", NULL };

/* Read store.json, or start a new store; apply a changed TNVMCAP later. */
static bool store_load_meta(NvmeNsStore *s, bool *is_new, Error **errp)
{
    g_autofree char *path = store_path(s, STORE_RECORD);
    g_autoptr(QDict) d = NULL;

    if (access(path, F_OK) < 0 && errno == ENOENT) {
        *is_new = true;
        return true;
    }
    *is_new = false;
    d = store_read_qdict(s, STORE_RECORD, errp);
    if (!d || !check_schema(d, path, errp) ||
        !check_keys(d, path, meta_keys, errp) ||
        !get_uint(d, path, "tnvmcap", 1, INT64_MAX, &s->tnvmcap, errp)) {
        return false;
    }
    return true;
}

static bool store_add_record(NvmeNsStore *s, const char *name, Error **errp)
{
    g_autoptr(QDict) d = store_read_qdict(s, name, errp);
    NvmeNsRecord *rec;

    if (!d) {
        return false;
    }
    rec = record_from_qdict(s, d, name, errp);
    if (!rec) {
        return false;
    }
    if (s->ns[rec->nsid]) {
        error_setg(errp, "%s/%s: NSID %u is also claimed by %s", s->dir,
                   name, rec->nsid, s->ns[rec->nsid]->record);
        record_free(rec);
        return false;
    }
    s->ns[rec->nsid] = rec;
    s->allocated += rec->size;
    return true;
}

static bool file_has_record(NvmeNsStore *s, const char *name)
{
    for (int i = 1; i <= NVME_NS_STORE_MAX_NSID; i++) {
        if (s->ns[i] && (!strcmp(s->ns[i]->image, name) ||
                         !g_strcmp0(s->ns[i]->zone_file, name))) {
            return true;
        }
    }
    return false;
}

static bool store_scan(NvmeNsStore *s, bool is_new, Error **errp)
{
    g_autoptr(GError) gerr = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    GDir *dir = g_dir_open(s->dir, 0, &gerr);
    const char *name;
    guint i;

    if (!dir) {
        error_setg(errp, "%s: %s", s->dir, gerr->message);
        return false;
    }
    while ((name = g_dir_read_name(dir))) {
        g_ptr_array_add(names, g_strdup(name));
    }
    g_dir_close(dir);
    g_ptr_array_sort(names, (GCompareFunc)qemu_pstrcmp0);

    for (i = 0; i < names->len; i++) {
        name = g_ptr_array_index(names, i);
        if (g_str_has_suffix(name, TMP_SUFFIX)) {
            /* an atomic write that a crash interrupted before its rename */
            g_autofree char *p = store_path(s, name);

            warn_report("%s: removing %s, left by an interrupted update",
                        s->dir, name);
            unlink(p);
        } else if (g_str_has_prefix(name, "ns-") &&
                   g_str_has_suffix(name, ".json")) {
            if (is_new) {
                error_setg(errp, "%s: holds namespace record %s but no %s",
                           s->dir, name, STORE_RECORD);
                return false;
            }
            if (!store_add_record(s, name, errp)) {
                return false;
            }
        }
    }

    /* A file without a record: a create that a crash interrupted. */
    for (i = 0; i < names->len; i++) {
        name = g_ptr_array_index(names, i);
        if (g_str_has_prefix(name, "ns-") &&
            (g_str_has_suffix(name, ".img") ||
             g_str_has_suffix(name, ".zones")) &&
            !file_has_record(s, name)) {
            warn_report("%s: %s has no record (an interrupted create?); "
                        "it is not loaded and left as it is", s->dir, name);
        }
    }
    return true;
}

static bool store_lock(NvmeNsStore *s, Error **errp)
{
    g_autofree char *path = store_path(s, STORE_LOCK);
    int ret;

    s->lockfd = qemu_create(path, O_RDWR | O_CLOEXEC, 0600, errp);
    if (s->lockfd < 0) {
        return false;
    }
    ret = qemu_lock_fd(s->lockfd, 0, 0, true);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "%s: the namespace store is in use by "
                         "another process (cannot lock %s)", s->dir,
                         STORE_LOCK);
        return false;
    }
    return true;
}

NvmeNsStore *nvme_ns_store_open(const char *dir, uint64_t tnvmcap,
                                bool purge, Error **errp)
{
    NvmeNsStore *s = g_new0(NvmeNsStore, 1);

    QSIMPLEQ_INIT(&s->jobs);    bool is_new;

    s->dir = g_strdup(dir);
    s->purge = purge;
    s->lockfd = -1;
    s->dirfd = qemu_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, errp);
    if (s->dirfd < 0) {
        goto fail;
    }
    if (!store_lock(s, errp) ||
        !store_load_meta(s, &is_new, errp) ||
        !store_scan(s, is_new, errp)) {
        goto fail;
    }

    if (is_new && !tnvmcap) {
        error_setg(errp, "%s: a new namespace store needs a capacity: set "
                   "auto-ns-tnvmcap", dir);
        goto fail;
    }
    if (s->allocated > s->tnvmcap && !tnvmcap) {
        error_setg(errp, "%s: the namespaces hold %" PRIu64 " bytes, more "
                   "than the store's capacity of %" PRIu64 " bytes "
                   "(damaged %s?)", dir, s->allocated, s->tnvmcap,
                   STORE_RECORD);
        goto fail;
    }
    if (tnvmcap && tnvmcap != s->tnvmcap) {
        if (tnvmcap < s->allocated) {
            error_setg(errp, "%s: auto-ns-tnvmcap=%" PRIu64 " is below the "
                       "%" PRIu64 " bytes allocated to namespaces", dir,
                       tnvmcap, s->allocated);
            goto fail;
        }
        s->tnvmcap = tnvmcap;
        if (!store_write_meta(s, errp)) {
            goto fail;
        }
    }

    trace_nvme_ns_store_open(dir, s->tnvmcap, s->allocated, is_new);
    return s;

fail:
    nvme_ns_store_close(s);
    return NULL;
}

void nvme_ns_store_close(NvmeNsStore *s)
{
    if (!s) {
        return;
    }
    /* the jobs queued so far complete first */
    AIO_WAIT_WHILE(NULL, !QSIMPLEQ_EMPTY(&s->jobs));
    for (int i = 0; i <= NVME_NS_STORE_MAX_NSID; i++) {
        record_free(s->ns[i]);
    }
    if (s->lockfd >= 0) {
        qemu_unlock_fd(s->lockfd, 0, 0);
        close(s->lockfd);
    }
    if (s->dirfd >= 0) {
        close(s->dirfd);
    }
    g_free(s->dir);
    g_free(s);
}

const char *nvme_ns_store_dir(NvmeNsStore *s)
{
    return s->dir;
}

uint64_t nvme_ns_store_tnvmcap(NvmeNsStore *s)
{
    return s->tnvmcap;
}

uint64_t nvme_ns_store_allocated(NvmeNsStore *s)
{
    return s->allocated;
}

NvmeNsRecord *nvme_ns_store_get(NvmeNsStore *s, uint32_t nsid)
{
    if (!nsid || nsid > NVME_NS_STORE_MAX_NSID) {
        return NULL;
    }
    return s->ns[nsid];
}

NvmeNsRecord *nvme_ns_store_next(NvmeNsStore *s, uint32_t nsid)
{
    for (uint32_t i = nsid + 1; i <= NVME_NS_STORE_MAX_NSID; i++) {
        if (s->ns[i]) {
            return s->ns[i];
        }
    }
    return NULL;
}

char *nvme_ns_store_record_path(NvmeNsStore *s, const NvmeNsRecord *rec)
{
    return store_path(s, rec->record);
}

BlockDriverState *nvme_ns_store_open_image(NvmeNsStore *s,
                                           const NvmeNsRecord *rec,
                                           Error **errp)
{
    g_autofree char *path = store_path(s, rec->image);
    QDict *opts = qdict_new();

    /* raw, never probed: the guest writes whatever it likes into it */
    qdict_put_str(opts, "driver", "raw");
    return bdrv_open(path, NULL, opts, BDRV_O_RDWR, errp);
}

char *nvme_ns_store_zone_file_path(NvmeNsStore *s, const NvmeNsRecord *rec)
{
    return rec->zone_file ? store_path(s, rec->zone_file) : NULL;
}

/*
 * Store jobs.  What a command changes in a store is changed in memory at
 * once, in the main loop, so that the next command sees it; the files
 * follow in a job that runs in a worker thread, so that the main loop
 * (and every vCPU's MMIO with it) never waits for the disk.  The jobs of a
 * store run one at a time, in the order they were queued: the files go
 * through the same states as memory did, and a later write of a record
 * never lands before an earlier one.  A job reads only its own fields and
 * the store's directory and directory fd, which never change while the
 * store is open.  Its callback runs in the main loop once the change is
 * durable (0) or failed (a negative errno; the error was reported).
 */
typedef struct StoreJob StoreJob;
typedef int StoreJobFunc(StoreJob *job, Error **errp);

struct StoreJob {
    NvmeNsStore *s;
    StoreJobFunc *run;
    uint32_t nsid;
    char *record;       /* file names in the store */
    char *image;
    char *zone_file;
    char *image_aside;  /* where delete keeps them, NULL to remove them */
    char *zone_aside;
    uint64_t image_size;
    GString *json;      /* the record to write */
    bool refused;       /* set before it runs: a create of a failed store */
    Error *err;
    BlockCompletionFunc *cb;
    void *opaque;
    QSIMPLEQ_ENTRY(StoreJob) next;
};

static void store_job_free(StoreJob *job)
{
    g_free(job->record);
    g_free(job->image);
    g_free(job->zone_file);
    g_free(job->image_aside);
    g_free(job->zone_aside);
    if (job->json) {
        g_string_free(job->json, true);
    }
    g_free(job);
}

static int store_job_worker(void *opaque)
{
    StoreJob *job = opaque;

    if (job->refused) {
        error_setg(&job->err, "namespace store %s failed earlier: no new "
                   "namespace until QEMU restarts", job->s->dir);
        return -EIO;
    }
    return job->run(job, &job->err) < 0 ? -EIO : 0;
}

static void store_job_start(NvmeNsStore *s);
static int store_job_create(StoreJob *job, Error **errp);

static void store_job_done(void *opaque, int ret)
{
    StoreJob *job = opaque;
    NvmeNsStore *s = job->s;

    QSIMPLEQ_REMOVE_HEAD(&s->jobs, next);
    s->job_running = false;
    trace_nvme_ns_store_job_done(job->nsid, job->record, ret);
    if (ret < 0) {
        error_report_err(job->err);
        job->err = NULL;
    }
    /*
     * The callback may queue jobs, and may run a nested event loop (a
     * realize) in which other commands queue theirs: whichever comes
     * first starts the next job, once.
     */
    job->cb(job->opaque, ret);
    store_job_free(job);
    store_job_start(s);
}

static void store_job_start(NvmeNsStore *s)
{
    StoreJob *job = QSIMPLEQ_FIRST(&s->jobs);

    if (job && !s->job_running) {
        s->job_running = true;
        /* a create queued before the store failed writes nothing */
        job->refused = job->run == store_job_create && s->failed;
        thread_pool_submit_aio(store_job_worker, job, store_job_done, job);
    }
}

static StoreJob *store_job_new(NvmeNsStore *s, StoreJobFunc *run,
                               const NvmeNsRecord *rec,
                               BlockCompletionFunc *cb, void *opaque)
{
    StoreJob *job = g_new0(StoreJob, 1);

    job->s = s;
    job->run = run;
    job->nsid = rec->nsid;
    job->record = g_strdup(rec->record);
    job->image = g_strdup(rec->image);
    job->zone_file = g_strdup(rec->zone_file);
    job->cb = cb;
    job->opaque = opaque;
    return job;
}

static void store_job_queue(NvmeNsStore *s, StoreJob *job)
{
    QSIMPLEQ_INSERT_TAIL(&s->jobs, job, next);
    store_job_start(s);
}

/* Unlink NAME in the store; a file that is not there is no error. */
static bool store_unlink(NvmeNsStore *s, const char *name, Error **errp)
{
    g_autofree char *path = store_path(s, name);

    if (unlink(path) < 0 && errno != ENOENT) {
        error_setg_errno(errp, errno, "%s: cannot remove", path);
        return false;
    }
    return true;
}

/*
 * A new file of SIZE bytes, sparse, 0600 and never over an existing file.
 * Plain POSIX because it runs in a worker thread: for a raw image this is
 * what the block layer's file driver does too.
 */
static bool store_create_file(NvmeNsStore *s, const char *name, uint64_t size,
                             Error **errp)
{
    g_autofree char *path = store_path(s, name);
    int fd = qemu_create(path, O_RDWR | O_EXCL | O_CLOEXEC, 0600, errp);

    if (fd < 0) {
        return false;
    }
    if (ftruncate(fd, size) < 0) {
        error_setg_errno(errp, errno, "%s: cannot size it", path);
        goto fail;
    }
    if (qemu_fdatasync(fd) < 0) {
        error_setg_errno(errp, errno, "%s: sync failed", path);
        goto fail;
    }
    close(fd);
    return true;

fail:
    close(fd);
    unlink(path);
    return false;
}

/*
 * Create: the image, for a zoned namespace an empty zone state file
 * (zns-state.c lays it out when the namespace is realized), then the
 * record, and the directory.  On failure nothing is left behind.
 */
static int store_job_create(StoreJob *job, Error **errp)
{
    NvmeNsStore *s = job->s;

    if (!store_create_file(s, job->image, job->image_size, errp)) {
        return -1;
    }
    if (job->zone_file &&
        !store_create_file(s, job->zone_file, 0, errp)) {
        goto fail_image;
    }
    if (!store_write_file(s, job->record, job->json, errp)) {
        /* renamed already if the directory sync failed */
        store_unlink(s, job->record, NULL);
        goto fail_zone_file;
    }
    return 0;

fail_zone_file:
    if (job->zone_file) {
        store_unlink(s, job->zone_file, NULL);
    }
fail_image:
    store_unlink(s, job->image, NULL);
    store_sync_dir(s, NULL);
    return -1;
}

static int store_job_write(StoreJob *job, Error **errp)
{
    return store_write_file(job->s, job->record, job->json, errp);
}

/* Keep NAME aside as ASIDE, or remove it when ASIDE is NULL. */
static void store_discard(NvmeNsStore *s, const char *name, const char *aside)
{
    g_autofree char *path = store_path(s, name);
    g_autofree char *apath = NULL;
    Error *err = NULL;

    if (!aside) {
        if (!store_unlink(s, name, &err)) {
            warn_report_err(err);
        }
        return;
    }
    apath = store_path(s, aside);
    if (rename(path, apath) < 0) {
        warn_report("%s: cannot rename to %s: %s", path, aside,
                    strerror(errno));
    }
}

/*
 * Delete: the record first; without it the namespace is gone, and the
 * directory is synced before the image goes, so that a crash never leaves
 * a record without its image.  Only the record's removal is an error.
 */
static int store_job_delete(StoreJob *job, Error **errp)
{
    NvmeNsStore *s = job->s;

    if (!store_unlink(s, job->record, errp)) {
        return -1;
    }
    if (!store_sync_dir(s, errp)) {
        return -1;
    }
    store_discard(s, job->image, job->image_aside);
    if (job->zone_file) {
        store_discard(s, job->zone_file, job->zone_aside);
    }
    store_sync_dir(s, NULL);
    return 0;
}

/*
 * A store whose files did not follow a change may disagree with memory:
 * it takes no new namespace (whose NSID the files may still hold) until
 * QEMU restarts and loads what the files say.
 */
static void store_set_failed(NvmeNsStore *s, const char *why)
{
    if (!s->failed) {
        error_report("namespace store %s: %s failed; it takes no new "
                     "namespace until QEMU restarts", s->dir, why);
    }
    s->failed = true;
}

bool nvme_ns_store_failed(NvmeNsStore *s)
{
    return s->failed;
}

static void store_reserve(NvmeNsStore *s, NvmeNsRecord *rec)
{
    s->ns[rec->nsid] = rec;
    s->allocated += rec->size;
}

static void store_release(NvmeNsStore *s, uint32_t nsid)
{
    NvmeNsRecord *rec = s->ns[nsid];

    s->ns[nsid] = NULL;
    s->allocated -= rec->size;
    record_free(rec);
}

typedef struct StoreCb {
    NvmeNsStore *s;
    uint32_t nsid;
    const char *what;       /* the change, for a failure's message */
    BlockCompletionFunc *cb;
    void *opaque;
} StoreCb;

static StoreCb *store_cb_new(NvmeNsStore *s, uint32_t nsid, const char *what,
                             BlockCompletionFunc *cb, void *opaque)
{
    StoreCb *c = g_new(StoreCb, 1);

    *c = (StoreCb) {
        .s = s, .nsid = nsid, .what = what, .cb = cb, .opaque = opaque,
    };
    return c;
}

/* The files followed a change (0), or failed to: the store is failed. */
static void store_followed(void *opaque, int ret)
{
    StoreCb *c = opaque;

    if (ret < 0) {
        store_set_failed(c->s, c->what);
    }
    if (c->cb) {
        c->cb(c->opaque, ret);
    }
    g_free(c);
}

/* The job writes REC as it is now. */
static void store_job_set_record(StoreJob *job, const NvmeNsRecord *rec)
{
    g_autoptr(QDict) d = record_to_qdict(rec);

    job->json = qobject_to_json_pretty(QOBJECT(d), true);
    g_string_append_c(job->json, '\n');
}

static void store_created(void *opaque, int ret)
{
    StoreCb *c = opaque;

    if (ret < 0) {
        /* the job left no file: the reservation goes too */
        store_release(c->s, c->nsid);
    } else {
        c->s->ns[c->nsid]->creating = false;
        trace_nvme_ns_store_create(c->nsid, c->s->ns[c->nsid]->record,
                                   c->s->ns[c->nsid]->size);
    }
    c->cb(c->opaque, ret);
    g_free(c);
}

NvmeNsRecord *nvme_ns_store_create(NvmeNsStore *s, const NvmeNsRecord *tmpl,
                                   BlockCompletionFunc *cb, void *opaque)
{
    NvmeNsRecord *rec;
    StoreJob *job;

    assert(tmpl->nsid && tmpl->nsid <= NVME_NS_STORE_MAX_NSID);
    assert(!s->ns[tmpl->nsid] && !s->failed);
    assert(tmpl->size <= s->tnvmcap - s->allocated);

    rec = g_memdup2(tmpl, sizeof(*tmpl));
    if (qemu_uuid_is_null(&rec->uuid)) {
        qemu_uuid_generate(&rec->uuid);
    }
    rec->image = image_name(&rec->uuid);
    rec->record = record_name(&rec->uuid);
    rec->zone_file = tmpl->csi == NVME_CSI_ZONED ?
                     zone_file_name(&rec->uuid) : NULL;
    rec->creating = true;
    store_reserve(s, rec);

    job = store_job_new(s, store_job_create, rec, store_created,
                        store_cb_new(s, rec->nsid, "a create", cb, opaque));
    /*
     * The image is a whole number of sectors: the block layer reads and
     * writes whole ones, and would grow a shorter image on the first write
     * to its last block.  The namespace uses only rec->size bytes of it.
     */
    job->image_size = ROUND_UP(rec->size, BDRV_SECTOR_SIZE);
    store_job_set_record(job, rec);
    store_job_queue(s, job);
    return rec;
}

static void store_update(NvmeNsStore *s, NvmeNsRecord *rec,
                         BlockCompletionFunc *cb, void *opaque)
{
    StoreJob *job;

    assert(s->ns[rec->nsid] == rec);
    trace_nvme_ns_store_update(rec->nsid, rec->record);
    job = store_job_new(s, store_job_write, rec, store_followed,
                        store_cb_new(s, rec->nsid, "a record write", cb,
                                     opaque));
    store_job_set_record(job, rec);
    store_job_queue(s, job);
}

void nvme_ns_store_set_attached(NvmeNsStore *s, NvmeNsRecord *rec,
                                const uint16_t *cntlids, int nr, bool attach,
                                BlockCompletionFunc *cb, void *opaque)
{
    for (int i = 0; i < nr; i++) {
        uint16_t c = le16_to_cpu(cntlids[i]);

        assert(c < NVME_NS_STORE_MAX_CTRLS);
        if (attach) {
            set_bit(c, rec->attached);
        } else {
            clear_bit(c, rec->attached);
        }
    }
    store_update(s, rec, cb, opaque);
}

void nvme_ns_store_set_format(NvmeNsStore *s, NvmeNsRecord *rec,
                              uint8_t lbaf, bool mset, uint8_t pi, bool pil,
                              uint64_t nsze, BlockCompletionFunc *cb,
                              void *opaque)
{
    rec->lbaf = lbaf;
    rec->mset = mset;
    rec->pi = pi;
    rec->pil = pil;
    rec->nsze = nsze;
    store_update(s, rec, cb, opaque);
}

void nvme_ns_store_set_size(NvmeNsStore *s, NvmeNsRecord *rec, uint64_t size,
                            uint64_t nsze, BlockCompletionFunc *cb,
                            void *opaque)
{
    assert(size <= rec->size || size - rec->size <= s->tnvmcap - s->allocated);
    s->allocated = s->allocated - rec->size + size;
    rec->size = size;
    rec->nsze = nsze;
    store_update(s, rec, cb, opaque);
}

static char *aside_name(const NvmeNsRecord *rec, const char *ext)
{
    g_autofree char *u = qemu_uuid_unparse_strdup(&rec->uuid);

    return g_strdup_printf("deleted-ns-%s-%" PRId64 ".%s", u,
                           (int64_t)time(NULL), ext);
}

void nvme_ns_store_delete(NvmeNsStore *s, uint32_t nsid,
                          BlockCompletionFunc *cb, void *opaque)
{
    NvmeNsRecord *rec = nvme_ns_store_get(s, nsid);
    StoreJob *job;

    assert(rec);
    trace_nvme_ns_store_delete(nsid, rec->record, s->purge);
    job = store_job_new(s, store_job_delete, rec, store_followed,
                        store_cb_new(s, nsid, "a delete", cb, opaque));
    if (!s->purge) {
        job->image_aside = aside_name(rec, "img");
        job->zone_aside = rec->zone_file ? aside_name(rec, "zones") : NULL;
    }
    store_job_queue(s, job);
    store_release(s, nsid);
}

static int store_job_abort(StoreJob *job, Error **errp)
{
    NvmeNsStore *s = job->s;

    if (!store_unlink(s, job->record, errp) ||
        !store_sync_dir(s, errp)) {
        return -1;
    }
    store_unlink(s, job->image, NULL);
    if (job->zone_file) {
        store_unlink(s, job->zone_file, NULL);
    }
    store_sync_dir(s, NULL);
    return 0;
}

void nvme_ns_store_abort(NvmeNsStore *s, uint32_t nsid,
                         BlockCompletionFunc *cb, void *opaque)
{
    NvmeNsRecord *rec = nvme_ns_store_get(s, nsid);

    assert(rec);
    trace_nvme_ns_store_abort(nsid, rec->record);
    store_job_queue(s, store_job_new(s, store_job_abort, rec, store_followed,
                                     store_cb_new(s, nsid, "undoing a create",
                                                  cb, opaque)));
    store_release(s, nsid);
}
