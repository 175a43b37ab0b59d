/*
 * QTest testcase for the NVMe namespace store from the host: the QMP
 * commands of qapi/nvme.json, NVME_NAMESPACE_CHANGED, and what the guest
 * (the admin queue here) sees of each change.
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "qemu/uuid.h"
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "libqos/nvme-admin.h"

#define SLOT0 4
#define SLOT1 5
#define POOL (64 * MiB)

/* One controller (id nvme0, implicit subsystem) with a store of POOL. */
static QNvmeMachine *start_one(const char *dir, const char *extra)
{
    return qnvme_machine_start("-device nvme,id=nvme0,addr=%d.0,serial=qmp0,"
                               "auto-ns-path=%s,auto-ns-tnvmcap=%llu %s",
                               SLOT0, dir, (unsigned long long)POOL,
                               extra ? extra : "");
}

/* Two controllers of nvme-subsys subsys0, which holds the store. */
static QNvmeMachine *start_two(const char *dir)
{
    return qnvme_machine_start("-device nvme-subsys,id=subsys0,"
                               "auto-ns-path=%s,auto-ns-tnvmcap=%llu "
                               "-device nvme,addr=%d.0,serial=sub0,"
                               "subsys=subsys0 "
                               "-device nvme,addr=%d.0,serial=sub0,"
                               "subsys=subsys0",
                               dir, (unsigned long long)POOL, SLOT0, SLOT1);
}

/*
 * Send the command FMT, interpolated with printf (so that a test can put a
 * fragment of JSON into it); its response.
 */
static QDict *qmp_vsend(QNvmeMachine *m, const char *fmt, va_list ap)
    G_GNUC_PRINTF(2, 0);
static QDict *qmp_vsend(QNvmeMachine *m, const char *fmt, va_list ap)
{
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    QObject *cmd = qobject_from_json(text, &error_abort);

    return qtest_qmp(m->qts, "%p", cmd);
}

/* The command's "return"; it must succeed. */
static QDict *qmp_ok(QNvmeMachine *m, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
static QDict *qmp_ok(QNvmeMachine *m, const char *fmt, ...)
{
    va_list ap;
    QDict *resp, *ret;

    va_start(ap, fmt);
    resp = qmp_vsend(m, fmt, ap);
    va_end(ap);
    if (qdict_haskey(resp, "error")) {
        g_test_message("QMP error: %s", qdict_get_str(qdict_get_qdict(
                       resp, "error"), "desc"));
    }
    g_assert_false(qdict_haskey(resp, "error"));
    ret = qdict_get_qdict(resp, "return");
    qobject_ref(ret);
    qobject_unref(resp);
    return ret;
}

/* The command must fail with an error whose text contains WANT. */
static void qmp_refused(QNvmeMachine *m, const char *want, const char *fmt,
                        ...) G_GNUC_PRINTF(3, 4);
static void qmp_refused(QNvmeMachine *m, const char *want, const char *fmt,
                        ...)
{
    va_list ap;
    QDict *resp;
    const char *desc;

    va_start(ap, fmt);
    resp = qmp_vsend(m, fmt, ap);
    va_end(ap);
    g_assert_true(qdict_haskey(resp, "error"));
    desc = qdict_get_str(qdict_get_qdict(resp, "error"), "desc");
    if (!strstr(desc, want)) {
        g_test_message("error '%s' does not say '%s'", desc, want);
    }
    g_assert_nonnull(strstr(desc, want));
    qobject_unref(resp);
}

/*
 * The next NVME_NAMESPACE_CHANGED: for NSID, CHANGE, made by ORIGIN (with
 * a command of controller CNTLID, -1: none named).
 */
static void expect_event(QNvmeMachine *m, const char *subsys, uint32_t nsid,
                         const char *change, const char *origin, int cntlid)
{
    QDict *ev = qtest_qmp_eventwait_ref(m->qts, "NVME_NAMESPACE_CHANGED");
    QDict *data = qdict_get_qdict(ev, "data");

    g_assert_cmpstr(qdict_get_str(data, "subsys"), ==, subsys);
    g_assert_cmpint(qdict_get_int(data, "nsid"), ==, nsid);
    g_assert_cmpstr(qdict_get_str(data, "change"), ==, change);
    g_assert_cmpstr(qdict_get_str(data, "origin"), ==, origin);
    if (cntlid >= 0) {
        g_assert_true(qdict_haskey(data, "controller"));
        g_assert_cmpint(qdict_get_int(data, "controller"), ==, cntlid);
    } else {
        g_assert_false(qdict_haskey(data, "controller"));
    }
    qobject_unref(ev);
}

/* No NVME_NAMESPACE_CHANGED is queued. */
static void expect_no_event(QNvmeMachine *m)
{
    QDict *ev = qtest_qmp_event_ref(m->qts, "NVME_NAMESPACE_CHANGED");

    g_assert_null(ev);
}

static uint64_t id_nsze(QNvmeCtrl *c, uint32_t nsid, uint8_t *ds)
{
    NvmeIdNs id;

    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, nsid, 0, 0,
                                   &id).status, ==, NVME_SUCCESS);
    if (ds) {
        *ds = id.lbaf[NVME_ID_NS_FLBAS_INDEX(id.flbas)].ds;
    }
    g_assert_cmpuint(le64_to_cpu(id.ncap), ==, le64_to_cpu(id.nsze));
    return le64_to_cpu(id.nsze);
}

static uint64_t id_unvmcap(QNvmeCtrl *c)
{
    NvmeIdCtrl id;

    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_CTRL, 0, 0, 0,
                                   &id).status, ==, NVME_SUCCESS);
    return qnvme_cap128(id.unvmcap);
}

/* The UUID in the Namespace Identification Descriptor list of NSID. */
static void id_uuid(QNvmeCtrl *c, uint32_t nsid, QemuUUID *uuid)
{
    uint8_t buf[4096];
    int off = 0;

    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS_DESCR_LIST, nsid, 0, 0,
                                   buf).status, ==, NVME_SUCCESS);
    while (off < 4096 - 4 && buf[off]) {
        if (buf[off] == NVME_NIDT_UUID) {
            memcpy(uuid, &buf[off + 4], 16);
            return;
        }
        off += 4 + buf[off + 1];
    }
    g_assert_not_reached();
}

/* Set up the Namespace Attribute Notices and submit an AER. */
static uint16_t aer_armed(QNvmeCtrl *c)
{
    g_assert_cmphex(qnvme_set_features(c, NVME_ASYNCHRONOUS_EVENT_CONF,
                                       1 << 8).status, ==, NVME_SUCCESS);
    return qnvme_aer_submit(c);
}

/* The AER completes with a Namespace Attribute Changed, the log has NSID. */
static void expect_aer_nsid(QNvmeCtrl *c, uint16_t aer, uint32_t nsid)
{
    uint32_t log[1024];
    QNvmeResult r;

    g_assert_true(qnvme_admin_wait(c, aer, 10000, &r));
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    g_assert_cmphex(r.dw0, ==, NVME_AER_TYPE_NOTICE |
                    (NVME_AER_INFO_NOTICE_NS_ATTR_CHANGED << 8) |
                    (NVME_LOG_CHANGED_NSLIST << 16));
    g_assert_cmphex(qnvme_get_log(c, NVME_LOG_CHANGED_NSLIST, 0xffffffff,
                                  log, sizeof(log)).status, ==, NVME_SUCCESS);
    g_assert_cmpint(le32_to_cpu(log[0]), ==, nsid);
    g_assert_cmpint(log[1], ==, 0);
}

/* Namespace NSID of the inventory QUERY (a query-nvme-namespaces return). */
static QDict *inventory_ns(QDict *query, uint32_t nsid)
{
    QList *l = qdict_get_qlist(query, "namespaces");
    QListEntry *e;

    QLIST_FOREACH_ENTRY(l, e) {
        QDict *ns = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(ns, "nsid") == nsid) {
            return ns;
        }
    }
    return NULL;
}

static int inventory_count(QDict *query)
{
    return qlist_size(qdict_get_qlist(query, "namespaces"));
}

/* The single controller ID a namespace of the inventory is attached to. */
static int64_t attached_to(QDict *ns)
{
    QList *l = qdict_get_qlist(ns, "controllers");

    g_assert_cmpint(qlist_size(l), <=, 1);
    return qlist_empty(l) ? -1 :
           qnum_get_int(qobject_to(QNum, qlist_peek(l)));
}

static void io_rw(QNvmeCtrl *c, uint8_t opc, uint32_t nsid, uint64_t slba,
                  void *buf, size_t len, uint16_t want)
{
    NvmeCmd cmd = {
        .opcode = opc,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(slba),
        .cdw11 = cpu_to_le32(slba >> 32),
        .cdw12 = cpu_to_le32(len / 512 - 1),
    };

    g_assert_cmphex(qnvme_io(c, &cmd, buf, len, opc == NVME_CMD_WRITE ?
                             QNVME_TO_DEV : QNVME_FROM_DEV).status, ==, want);
}

/*
 * The host creates a namespace and attaches it: the guest's controller
 * raises the event, Identify has it as asked, the inventory lists it,
 * and a restart keeps it.
 */
static void test_create_attach(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_one(dir, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint16_t aer = aer_armed(c);
    QDict *ret, *q, *ns;
    QemuUUID want, got;
    uint8_t ds;

    ret = qmp_ok(m, "{'execute': 'nvme-ns-create', 'arguments': {"
                 "'subsys': 'nvme0', 'size': %u, 'block-size': 4096,"
                 "'attach': [0]}}", (unsigned)MiB);
    g_assert_cmpint(qdict_get_int(ret, "nsid"), ==, 1);
    g_assert_cmpint(qemu_uuid_parse(qdict_get_str(ret, "uuid"), &want), ==,
                    0);
    qobject_unref(ret);
    expect_event(m, "nvme0", 1, "created", "host", -1);
    expect_event(m, "nvme0", 1, "attached", "host", -1);

    expect_aer_nsid(c, aer, 1);
    g_assert_cmpuint(id_nsze(c, 1, &ds), ==, MiB / 4096);
    g_assert_cmpint(ds, ==, 12);
    id_uuid(c, 1, &got);
    g_assert_true(qemu_uuid_is_equal(&want, &got));
    g_assert_cmpuint(id_unvmcap(c), ==, POOL - MiB);

    q = qmp_ok(m, "{'execute': 'query-nvme-namespaces', 'arguments': {"
               "'subsys': 'nvme0'}}");
    g_assert_cmpint(qdict_get_int(q, "tnvmcap"), ==, POOL);
    g_assert_cmpint(qdict_get_int(q, "unvmcap"), ==, POOL - MiB);
    g_assert_cmpint(inventory_count(q), ==, 1);
    ns = inventory_ns(q, 1);
    g_assert_nonnull(ns);
    g_assert_cmpint(qdict_get_int(ns, "size"), ==, MiB);
    g_assert_cmpint(qdict_get_int(ns, "nsze"), ==, MiB / 4096);
    g_assert_cmpint(qdict_get_int(ns, "block-size"), ==, 4096);
    g_assert_cmpint(qdict_get_int(ns, "metadata-size"), ==, 0);
    g_assert_cmpstr(qdict_get_str(ns, "command-set"), ==, "nvm");
    g_assert_false(qdict_get_bool(ns, "shared"));
    g_assert_cmpint(attached_to(ns), ==, 0);
    g_assert_true(g_file_test(qdict_get_str(ns, "image"),
                              G_FILE_TEST_IS_REGULAR));
    qobject_unref(q);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_ACTIVE_LIST, NULL, 0),
                    ==, 1);
    g_assert_cmpuint(id_nsze(c, 1, NULL), ==, MiB / 4096);
    id_uuid(c, 1, &got);
    g_assert_true(qemu_uuid_is_equal(&want, &got));
    q = qmp_ok(m, "{'execute': 'query-nvme-namespaces', 'arguments': {"
               "'subsys': 'nvme0'}}");
    g_assert_cmpint(attached_to(inventory_ns(q, 1)), ==, 0);
    qobject_unref(q);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/* Every refusal is a QMP error, and changes nothing. */
static void test_refusals(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    g_autofree char *args = g_strdup_printf("-device nvme,id=plain,"
                                            "addr=%d.0,serial=plain0", SLOT1);
    QNvmeMachine *m = start_one(dir, args);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    const char *create = "{'execute': 'nvme-ns-create', 'arguments': {"
                         "'subsys': 'nvme0', 'size': 1048576, ";
    QDict *q, *ret;

    qmp_refused(m, "neither an nvme-subsys nor an nvme device",
                "{'execute': 'nvme-ns-create', 'arguments': {"
                "'subsys': 'nope', 'size': 1048576}}");
    qmp_refused(m, "has no namespace store",
                "{'execute': 'query-nvme-namespaces', 'arguments': {"
                "'subsys': 'plain'}}");
    qmp_refused(m, "no LBA format has a block size of 1000",
                "%s 'block-size': 1000}}", create);
    qmp_refused(m, "no LBA format has a block size of 4096 bytes with 7",
                "%s 'block-size': 4096, 'metadata-size': 7}}", create);
    qmp_refused(m, "give lbaf, or block-size",
                "%s 'block-size': 4096, 'lbaf': 4}}", create);
    qmp_refused(m, "lbaf must be below 8", "%s 'lbaf': 8}}", create);
    qmp_refused(m, "protection information needs metadata",
                "%s 'pi': 1}}", create);
    qmp_refused(m, "pi must be 0 to 3",
                "%s 'block-size': 512, 'metadata-size': 8, 'pi': 4}}",
                create);
    qmp_refused(m, "size must be a positive multiple of 4096",
                "{'execute': 'nvme-ns-create', 'arguments': {"
                "'subsys': 'nvme0', 'size': 6144, 'block-size': 4096}}");
    qmp_refused(m, "not enough free capacity",
                "{'execute': 'nvme-ns-create', 'arguments': {"
                "'subsys': 'nvme0', 'size': %llu}}",
                (unsigned long long)POOL + 4096);
    qmp_refused(m, "whole number of zones",
                "%s 'command-set': 'zoned'}}", create);
    qmp_refused(m, "has no controller 7", "%s 'attach': [7]}}", create);
    qmp_refused(m, "listed twice", "%s 'attach': [0, 0]}}", create);
    qmp_refused(m, "nsid must be 1 to 256", "%s 'nsid': 257}}", create);

    ret = qmp_ok(m, "%s 'nsid': 5}}", create);
    g_assert_cmpint(qdict_get_int(ret, "nsid"), ==, 5);
    qobject_unref(ret);
    expect_event(m, "nvme0", 5, "created", "host", -1);
    qmp_refused(m, "namespace ID is taken", "%s 'nsid': 5}}", create);

    qmp_refused(m, "has no namespace 9 in its namespace store",
                "{'execute': 'nvme-ns-delete', 'arguments': {"
                "'subsys': 'nvme0', 'nsid': 9}}");
    qmp_refused(m, "is not attached to controller 0",
                "{'execute': 'nvme-ns-detach', 'arguments': {"
                "'subsys': 'nvme0', 'nsid': 5, 'controllers': [0]}}");
    qmp_refused(m, "no controllers",
                "{'execute': 'nvme-ns-attach', 'arguments': {"
                "'subsys': 'nvme0', 'nsid': 5, 'controllers': []}}");
    qobject_unref(qmp_ok(m, "{'execute': 'nvme-ns-attach', 'arguments': {"
                         "'subsys': 'nvme0', 'nsid': 5, "
                         "'controllers': [0]}}"));
    expect_event(m, "nvme0", 5, "attached", "host", -1);
    qmp_refused(m, "attached to controller 0 already",
                "{'execute': 'nvme-ns-attach', 'arguments': {"
                "'subsys': 'nvme0', 'nsid': 5, 'controllers': [0]}}");
    qmp_refused(m, "set force",
                "{'execute': 'nvme-ns-resize', 'arguments': {"
                "'subsys': 'nvme0', 'nsid': 5, 'size': 524288}}");
    qmp_refused(m, "bytes free",
                "{'execute': 'nvme-ns-resize', 'arguments': {"
                "'subsys': 'nvme0', 'nsid': 5, 'size': %llu}}",
                (unsigned long long)POOL + MiB);
    qmp_refused(m, "positive multiple of 512",
                "{'execute': 'nvme-ns-resize', 'arguments': {"
                "'subsys': 'nvme0', 'nsid': 5, 'size': 1048577}}");

    /* nothing of it changed the store or what the guest sees */
    expect_no_event(m);
    q = qmp_ok(m, "{'execute': 'query-nvme-namespaces', 'arguments': {"
               "'subsys': 'nvme0'}}");
    g_assert_cmpint(inventory_count(q), ==, 1);
    g_assert_cmpint(qdict_get_int(inventory_ns(q, 5), "size"), ==, MiB);
    g_assert_cmpint(qdict_get_int(q, "unvmcap"), ==, POOL - MiB);
    qobject_unref(q);
    g_assert_cmpuint(id_unvmcap(c), ==, POOL - MiB);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_PRESENT_LIST, NULL, 0),
                    ==, 1);
    g_assert_cmpuint(id_nsze(c, 5, NULL), ==, MiB / 512);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/* A private namespace goes to one controller; a shared one to both. */
static void test_two_controllers(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_two(dir);
    QNvmeCtrl *c1 = qnvme_ctrl_open(m, SLOT1);
    uint16_t aer = aer_armed(c1);
    QDict *ret;

    qmp_refused(m, "can be attached to one controller",
                "{'execute': 'nvme-ns-create', 'arguments': {"
                "'subsys': 'subsys0', 'size': 1048576, 'attach': [0, 1]}}");
    expect_no_event(m);
    ret = qmp_ok(m, "{'execute': 'nvme-ns-create', 'arguments': {"
                 "'subsys': 'subsys0', 'size': 1048576, 'shared': true,"
                 "'attach': [0, 1]}}");
    g_assert_cmpint(qdict_get_int(ret, "nsid"), ==, 1);
    qobject_unref(ret);
    expect_event(m, "subsys0", 1, "created", "host", -1);
    expect_event(m, "subsys0", 1, "attached", "host", -1);
    expect_aer_nsid(c1, aer, 1);
    g_assert_cmpint(qnvme_nslist(c1, NVME_ID_CNS_NS_ACTIVE_LIST, NULL, 0),
                    ==, 1);

    ret = qmp_ok(m, "{'execute': 'nvme-ns-create', 'arguments': {"
                 "'subsys': 'subsys0', 'size': 1048576, 'attach': [0]}}");
    qobject_unref(ret);
    expect_event(m, "subsys0", 2, "created", "host", -1);
    expect_event(m, "subsys0", 2, "attached", "host", -1);
    qmp_refused(m, "is private",
                "{'execute': 'nvme-ns-attach', 'arguments': {"
                "'subsys': 'subsys0', 'nsid': 2, 'controllers': [1]}}");
    g_assert_cmpint(qnvme_nslist(c1, NVME_ID_CNS_NS_ACTIVE_LIST, NULL, 0),
                    ==, 1);

    qnvme_ctrl_close(c1);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/* What the guest does, the host learns, once it is in the store. */
static void test_guest_events(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_one(dir, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint16_t ids[1] = { 0 };
    QNvmeResult r;
    QDict *q;

    r = qnvme_ns_create(c, NVME_CSI_NVM, 2048, 2048, 0, 0, 0);
    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    expect_event(m, "nvme0", r.dw0, "created", "guest", 0);
    g_assert_cmphex(qnvme_ns_attach(c, r.dw0, false, ids, 1).status, ==,
                    NVME_SUCCESS);
    expect_event(m, "nvme0", r.dw0, "attached", "guest", 0);
    g_assert_cmphex(qnvme_format(c, r.dw0, 4, 0, 0, 0).status, ==,
                    NVME_SUCCESS);
    expect_event(m, "nvme0", r.dw0, "formatted", "guest", 0);
    q = qmp_ok(m, "{'execute': 'query-nvme-namespaces', 'arguments': {"
               "'subsys': 'nvme0'}}");
    g_assert_cmpint(qdict_get_int(inventory_ns(q, r.dw0), "block-size"), ==,
                    4096);
    qobject_unref(q);
    g_assert_cmphex(qnvme_ns_attach(c, r.dw0, true, ids, 1).status, ==,
                    NVME_SUCCESS);
    expect_event(m, "nvme0", r.dw0, "detached", "guest", 0);
    g_assert_cmphex(qnvme_ns_delete(c, r.dw0).status, ==, NVME_SUCCESS);
    expect_event(m, "nvme0", r.dw0, "deleted", "guest", 0);
    expect_no_event(m);
    q = qmp_ok(m, "{'execute': 'query-nvme-namespaces', 'arguments': {"
               "'subsys': 'nvme0'}}");
    g_assert_cmpint(inventory_count(q), ==, 0);
    qobject_unref(q);

    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * Grow: the guest is told, sees the new size, keeps its data, and can
 * write at the new end; the image grows sparse.  Shrink only with force.
 * A restart keeps the size.
 */
static void test_resize(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_one(dir, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint8_t wbuf[4096], rbuf[4096];
    g_autofree char *img = NULL;
    uint16_t aer;
    struct stat st;
    QDict *q;

    qobject_unref(qmp_ok(m, "{'execute': 'nvme-ns-create', 'arguments': {"
                         "'subsys': 'nvme0', 'size': 1048576,"
                         "'attach': [0]}}"));
    expect_event(m, "nvme0", 1, "created", "host", -1);
    expect_event(m, "nvme0", 1, "attached", "host", -1);
    memset(wbuf, 0xa5, sizeof(wbuf));
    io_rw(c, NVME_CMD_WRITE, 1, 0, wbuf, sizeof(wbuf), NVME_SUCCESS);
    io_rw(c, NVME_CMD_WRITE, 1, 2044, wbuf, sizeof(wbuf),
          NVME_LBA_RANGE | NVME_DNR);

    aer = aer_armed(c);
    qobject_unref(qmp_ok(m, "{'execute': 'nvme-ns-resize', 'arguments': {"
                         "'subsys': 'nvme0', 'nsid': 1, 'size': 2097152}}"));
    expect_event(m, "nvme0", 1, "resized", "host", -1);
    expect_aer_nsid(c, aer, 1);
    g_assert_cmpuint(id_nsze(c, 1, NULL), ==, 4096);
    g_assert_cmpuint(id_unvmcap(c), ==, POOL - 2 * MiB);
    io_rw(c, NVME_CMD_READ, 1, 0, rbuf, sizeof(rbuf), NVME_SUCCESS);
    g_assert_cmpmem(rbuf, sizeof(rbuf), wbuf, sizeof(wbuf));
    io_rw(c, NVME_CMD_WRITE, 1, 4088, wbuf, sizeof(wbuf), NVME_SUCCESS);
    img = qnvme_dir_only(dir, "ns-", ".img");
    g_assert_cmpint(stat(img, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 2 * MiB);
    g_assert_cmpint(st.st_blocks * 512, <=, 64 * KiB);   /* two blocks */

    qmp_refused(m, "set force",
                "{'execute': 'nvme-ns-resize', 'arguments': {"
                "'subsys': 'nvme0', 'nsid': 1, 'size': 524288}}");
    qobject_unref(qmp_ok(m, "{'execute': 'nvme-ns-resize', 'arguments': {"
                         "'subsys': 'nvme0', 'nsid': 1, 'size': 524288,"
                         "'force': true}}"));
    expect_event(m, "nvme0", 1, "resized", "host", -1);
    g_assert_cmpuint(id_nsze(c, 1, NULL), ==, 1024);
    g_assert_cmpint(stat(img, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 512 * KiB);
    io_rw(c, NVME_CMD_READ, 1, 0, rbuf, sizeof(rbuf), NVME_SUCCESS);
    g_assert_cmpmem(rbuf, sizeof(rbuf), wbuf, sizeof(wbuf));

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpuint(id_nsze(c, 1, NULL), ==, 1024);
    g_assert_cmpuint(id_unvmcap(c), ==, POOL - 512 * KiB);
    q = qmp_ok(m, "{'execute': 'query-nvme-namespaces', 'arguments': {"
               "'subsys': 'nvme0'}}");
    g_assert_cmpint(qdict_get_int(inventory_ns(q, 1), "size"), ==, 512 * KiB);
    qobject_unref(q);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/* 1 TiB grows as fast as 1 GiB and allocates nothing. */
static void test_resize_sparse(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = qnvme_machine_start("-device nvme,id=nvme0,addr=%d.0,"
                                          "serial=qmp0,auto-ns-path=%s,"
                                          "auto-ns-tnvmcap=2T", SLOT0, dir);
    g_autofree char *img = NULL;
    struct stat st;

    qobject_unref(qmp_ok(m, "{'execute': 'nvme-ns-create', 'arguments': {"
                         "'subsys': 'nvme0', 'size': 1073741824}}"));
    qobject_unref(qmp_ok(m, "{'execute': 'nvme-ns-resize', 'arguments': {"
                         "'subsys': 'nvme0', 'nsid': 1, "
                         "'size': 1099511627776}}"));
    img = qnvme_dir_only(dir, "ns-", ".img");
    g_assert_cmpint(stat(img, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 1 * TiB);
    g_assert_cmpint(st.st_blocks, ==, 0);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/* The host deletes a namespace; the other one survives a restart. */
static void test_delete(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_one(dir, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    uint32_t log[1024];
    uint16_t aer = aer_armed(c);
    QNvmeResult r;

    qobject_unref(qmp_ok(m, "{'execute': 'nvme-ns-create', 'arguments': {"
                         "'subsys': 'nvme0', 'size': 1048576,"
                         "'attach': [0]}}"));
    qobject_unref(qmp_ok(m, "{'execute': 'nvme-ns-create', 'arguments': {"
                         "'subsys': 'nvme0', 'size': 2097152,"
                         "'attach': [0]}}"));
    for (int i = 0; i < 4; i++) {
        qobject_unref(qtest_qmp_eventwait_ref(m->qts,
                                              "NVME_NAMESPACE_CHANGED"));
    }
    /* the event of the attachments, and their log read */
    g_assert_true(qnvme_admin_wait(c, aer, 10000, &r));
    g_assert_cmphex(qnvme_get_log(c, NVME_LOG_CHANGED_NSLIST, 0xffffffff,
                                  log, sizeof(log)).status, ==, NVME_SUCCESS);
    g_assert_cmpint(le32_to_cpu(log[0]), ==, 1);
    g_assert_cmpint(le32_to_cpu(log[1]), ==, 2);
    aer = qnvme_aer_submit(c);
    qobject_unref(qmp_ok(m, "{'execute': 'nvme-ns-delete', 'arguments': {"
                         "'subsys': 'nvme0', 'nsid': 1}}"));
    expect_event(m, "nvme0", 1, "deleted", "host", -1);
    expect_aer_nsid(c, aer, 1);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_PRESENT_LIST, NULL, 0),
                    ==, 1);
    g_assert_cmpint(qnvme_dir_count(dir, "ns-", ".json"), ==, 1);
    g_assert_cmpuint(id_unvmcap(c), ==, POOL - 2 * MiB);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_ACTIVE_LIST, NULL, 0),
                    ==, 1);
    g_assert_cmpuint(id_nsze(c, 2, NULL), ==, 4096);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/* The QOM path of the device whose drive is the image IMAGE. */
static char *device_of_image(QNvmeMachine *m, const char *image)
{
    QDict *resp = qtest_qmp(m->qts, "{'execute': 'query-block'}");
    QListEntry *e;
    char *path = NULL;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *b = qobject_to(QDict, qlist_entry_obj(e));
        QDict *ins = qdict_get_qdict(b, "inserted");

        if (ins && !strcmp(qdict_get_str(ins, "file"), image)) {
            path = g_strdup(qdict_get_str(b, "qdev"));
        }
    }
    qobject_unref(resp);
    g_assert_nonnull(path);
    return path;
}

/* device_del of a store namespace's device is refused, and says why. */
static void test_device_del_refused(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_one(dir, NULL);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT0);
    g_autofree char *img = NULL, *dev = NULL;

    qobject_unref(qmp_ok(m, "{'execute': 'nvme-ns-create', 'arguments': {"
                         "'subsys': 'nvme0', 'size': 1048576,"
                         "'attach': [0]}}"));
    img = qnvme_dir_only(dir, "ns-", ".img");
    dev = device_of_image(m, img);
    qmp_refused(m, "delete it with nvme-ns-delete",
                "{'execute': 'device_del', 'arguments': {'id': '%s'}}", dev);
    g_assert_cmpint(qnvme_nslist(c, NVME_ID_CNS_NS_ACTIVE_LIST, NULL, 0),
                    ==, 1);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * block_resize of the drive of a static namespace: the guest is told and
 * sees the new size.  A zoned one cannot be resized under its zones.
 */
static void test_block_resize(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    g_autofree char *img = g_build_filename(dir, "static.img", NULL);
    g_autofree char *zimg = g_build_filename(dir, "zoned.img", NULL);
    QNvmeMachine *m;
    QNvmeCtrl *c;
    uint16_t aer;
    int fd;

    fd = open(img, O_CREAT | O_RDWR, 0600);
    g_assert_cmpint(ftruncate(fd, MiB), ==, 0);
    close(fd);
    fd = open(zimg, O_CREAT | O_RDWR, 0600);
    g_assert_cmpint(ftruncate(fd, 8 * MiB), ==, 0);
    close(fd);
    m = qnvme_machine_start("-drive id=d0,if=none,format=raw,file=%s "
                            "-drive id=d1,if=none,format=raw,file=%s "
                            "-device nvme,id=nvme0,addr=%d.0,serial=br0 "
                            "-device nvme-ns,drive=d0,nsid=1 "
                            "-device nvme-ns,drive=d1,nsid=2,zoned=on,"
                            "zoned.zone_size=1M", img, zimg, SLOT0);
    c = qnvme_ctrl_open(m, SLOT0);
    g_assert_cmpuint(id_nsze(c, 1, NULL), ==, MiB / 512);
    aer = aer_armed(c);
    qobject_unref(qmp_ok(m, "{'execute': 'block_resize', 'arguments': {"
                         "'device': 'd0', 'size': 4194304}}"));
    expect_aer_nsid(c, aer, 1);
    g_assert_cmpuint(id_nsze(c, 1, NULL), ==, 4 * MiB / 512);
    qmp_refused(m, "resize", "{'execute': 'block_resize', 'arguments': {"
                "'device': 'd1', 'size': 16777216}}");
    g_assert_cmpuint(id_nsze(c, 2, NULL), ==, 8 * MiB / 512);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/nvme-qmp/create-attach", test_create_attach);
    qtest_add_func("/nvme-qmp/refusals", test_refusals);
    qtest_add_func("/nvme-qmp/two-controllers", test_two_controllers);
    qtest_add_func("/nvme-qmp/guest-events", test_guest_events);
    qtest_add_func("/nvme-qmp/resize", test_resize);
    qtest_add_func("/nvme-qmp/resize-sparse", test_resize_sparse);
    qtest_add_func("/nvme-qmp/delete", test_delete);
    qtest_add_func("/nvme-qmp/device-del-refused", test_device_del_refused);
    qtest_add_func("/nvme-qmp/block-resize", test_block_resize);

    return g_test_run();
}
