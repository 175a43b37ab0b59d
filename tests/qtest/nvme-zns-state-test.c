/*
 * QTest testcase for the persistent zone state of zoned NVMe namespaces
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 * See the COPYING file in the top-level directory.
 *
 * A static zoned nvme-ns with zoned.zone_file: zone states, write pointers
 * and descriptor extensions across stop/start (graceful, with a controller
 * shutdown, without one, and after SIGKILL), the power-on transitions of
 * open zones, the open and active limits after a load, and every way the
 * file can be refused.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/nvme-admin.h"

#define SLOT 4
#define IMG_SIZE (16 * MiB)
#define ZSZE 2048               /* 1 MiB zones of 512-byte blocks */
#define ZCAP 1536               /* 768 KiB usable */
#define NZONES (IMG_SIZE / 512 / ZSZE)
#define ZDES 64

enum {
    ZSA_CLOSE = 0x1,
    ZSA_FINISH = 0x2,
    ZSA_OPEN = 0x3,
    ZSA_RESET = 0x4,
    ZSA_OFFLINE = 0x5,
    ZSA_SET_ZDE = 0x10,
};

typedef struct Zns {
    char *dir;
    char *img;
    char *zfile;
    const char *opts;       /* extra nvme-ns properties */
    QNvmeMachine *m;
    QNvmeCtrl *c;
} Zns;

/* One zone as Report Zones shows it. */
typedef struct Zone {
    uint8_t state;
    uint8_t attrs;
    uint64_t zcap;
    uint64_t zslba;
    uint64_t wp;
    uint8_t ext[ZDES];
} Zone;

static char *cmdline(Zns *z, const char *zfile, const char *opts)
{
    return g_strdup_printf("-drive file=%s,if=none,id=z0,format=raw "
                           "-device nvme,addr=%d.0,serial=zns0 "
                           "-device nvme-ns,drive=z0,nsid=1,zoned=on,"
                           "zoned.zone_size=1M,zoned.zone_capacity=768K,"
                           "zoned.descr_ext_size=%d,zoned.max_open=3,"
                           "zoned.max_active=5,zoned.zone_file=%s%s",
                           z->img, SLOT, ZDES, zfile, opts ? opts : "");
}

static void zns_start(Zns *z)
{
    g_autofree char *args = cmdline(z, z->zfile, z->opts);

    z->m = qnvme_machine_start("%s", args);
    z->c = qnvme_ctrl_open(z->m, SLOT);
}

static Zns *zns_new(void)
{
    Zns *z = g_new0(Zns, 1);
    int fd;

    z->dir = qnvme_tmpdir_new();
    z->img = g_build_filename(z->dir, "zns.img", NULL);
    z->zfile = g_build_filename(z->dir, "zns.zones", NULL);
    fd = open(z->img, O_CREAT | O_RDWR, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, IMG_SIZE), ==, 0);
    close(fd);
    zns_start(z);
    return z;
}

static void zns_stop(Zns *z)
{
    qnvme_ctrl_close(z->c);
    qnvme_machine_stop(z->m);
    z->c = NULL;
    z->m = NULL;
}

static void zns_free(Zns *z)
{
    if (z->m) {
        zns_stop(z);
    }
    qnvme_tmpdir_free(z->dir);
    g_free(z->img);
    g_free(z->zfile);
    g_free(z);
}

typedef enum Restart {
    RESTART_SHUTDOWN,   /* CC.SHN, then quit */
    RESTART_QUIT,       /* quit without a controller shutdown */
    RESTART_KILL,       /* SIGKILL */
} Restart;

static void zns_restart(Zns *z, Restart how)
{
    if (how == RESTART_SHUTDOWN) {
        qnvme_ctrl_shutdown(z->c);
    }
    qnvme_ctrl_close(z->c);
    if (how == RESTART_KILL) {
        z->m = qnvme_machine_crash_restart(z->m);
    } else {
        z->m = qnvme_machine_restart(z->m);
    }
    z->c = qnvme_ctrl_open(z->m, SLOT);
}

static QNvmeResult zone_send(Zns *z, uint32_t zone, uint8_t zsa, void *buf,
                             size_t len)
{
    uint64_t slba = (uint64_t)zone * ZSZE;
    NvmeCmd cmd = {
        .opcode = NVME_CMD_ZONE_MGMT_SEND,
        .nsid = cpu_to_le32(1),
        .cdw10 = cpu_to_le32(slba),
        .cdw11 = cpu_to_le32(slba >> 32),
        .cdw13 = cpu_to_le32(zsa),
    };

    return qnvme_io(z->c, &cmd, buf, len, QNVME_TO_DEV);
}

static void zone_send_ok(Zns *z, uint32_t zone, uint8_t zsa)
{
    g_assert_cmphex(zone_send(z, zone, zsa, NULL, 0).status, ==,
                    NVME_SUCCESS);
}

static void set_zde_ok(Zns *z, uint32_t zone, uint8_t seed)
{
    uint8_t ext[ZDES];

    memset(ext, seed, sizeof(ext));
    g_assert_cmphex(zone_send(z, zone, ZSA_SET_ZDE, ext, sizeof(ext)).status,
                    ==, NVME_SUCCESS);
}

/* Extended Report Zones of the NZONES zones of NSID into ZONES. */
static void report_ns(QNvmeCtrl *c, uint32_t nsid, int nzones, Zone *zones)
{
    size_t dsz = 64 + ZDES;
    size_t len = 64 + nzones * dsz;
    g_autofree uint8_t *buf = g_malloc0(len);
    NvmeCmd cmd = {
        .opcode = NVME_CMD_ZONE_MGMT_RECV,
        .nsid = cpu_to_le32(nsid),
        .cdw12 = cpu_to_le32(len / 4 - 1),
        .cdw13 = cpu_to_le32(1),        /* ZRA: extended report, all zones */
    };

    g_assert_cmphex(qnvme_io(c, &cmd, buf, len, QNVME_FROM_DEV).status,
                    ==, NVME_SUCCESS);
    g_assert_cmpuint(ldq_le_p(buf), ==, nzones);
    for (int i = 0; i < nzones; i++) {
        const uint8_t *d = buf + 64 + i * dsz;

        zones[i].state = d[1] >> 4;
        zones[i].attrs = d[2];
        zones[i].zcap = ldq_le_p(d + 8);
        zones[i].zslba = ldq_le_p(d + 16);
        zones[i].wp = ldq_le_p(d + 24);
        memcpy(zones[i].ext, d + 64, ZDES);
    }
}

static void report(Zns *z, Zone *zones)
{
    report_ns(z->c, 1, NZONES, zones);
}

/* Each block's bytes depend on its LBA only. */
static void pattern(uint8_t *buf, size_t len, uint64_t lba)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)((lba + i / 512) * 7 + i % 512);
    }
}

/* Write NLB blocks at the write pointer of ZONE (at WP). */
static void write_at(Zns *z, uint64_t lba, uint32_t nlb)
{
    g_autofree uint8_t *buf = g_malloc(nlb * 512);

    pattern(buf, nlb * 512, lba);
    g_assert_cmphex(qnvme_write(z->c, 1, lba, nlb, buf, nlb * 512).status,
                    ==, NVME_SUCCESS);
}

/* Read back what write_at() wrote, in reads within MDTS. */
static void assert_data(Zns *z, uint64_t lba, uint32_t nlb)
{
    uint32_t chunk = MIN(nlb, 256);
    g_autofree uint8_t *want = g_malloc(chunk * 512);
    g_autofree uint8_t *got = g_malloc(chunk * 512);

    g_assert_cmpuint(nlb % chunk, ==, 0);
    for (uint32_t done = 0; done < nlb; done += chunk) {
        pattern(want, chunk * 512, lba + done);
        g_assert_cmphex(qnvme_read(z->c, 1, lba + done, chunk, got,
                                   chunk * 512).status, ==, NVME_SUCCESS);
        g_assert_cmpmem(got, chunk * 512, want, chunk * 512);
    }
}

static uint64_t zslba(uint32_t zone)
{
    return (uint64_t)zone * ZSZE;
}

/*
 * Zones 0..7 in every state the commands can make:
 *   0 Empty, 1 implicitly open (8 blocks written), 2 explicitly open with
 *   nothing written, 3 explicitly open (16 written), 4 Closed (24 written),
 *   5 Full by writes, 6 Full by Finish (4 written), 7 Closed by a
 *   descriptor extension.
 */
static void make_states(Zns *z)
{
    zone_send_ok(z, 2, ZSA_OPEN);
    zone_send_ok(z, 3, ZSA_OPEN);
    write_at(z, zslba(3), 16);
    write_at(z, zslba(4), 24);
    zone_send_ok(z, 4, ZSA_CLOSE);
    for (int i = 0; i < ZCAP / 256; i++) {
        write_at(z, zslba(5) + i * 256, 256);
    }
    write_at(z, zslba(6), 4);
    zone_send_ok(z, 6, ZSA_FINISH);
    set_zde_ok(z, 7, 0xa7);
    /* last: with three zones open, an earlier one would be auto-closed */
    write_at(z, zslba(1), 8);
}

static void assert_zone(const Zone *zn, int i, uint8_t state, uint64_t wp)
{
    g_test_message("zone %d: state 0x%x wp 0x%" PRIx64, i, zn->state, zn->wp);
    g_assert_cmpuint(zn->zslba, ==, zslba(i));
    g_assert_cmpuint(zn->zcap, ==, ZCAP);
    g_assert_cmphex(zn->state, ==, state);
    if (state != NVME_ZONE_STATE_FULL) {
        g_assert_cmphex(zn->wp, ==, wp);
    }
}

/* What make_states() leaves after a power cycle, open zones closed. */
static void assert_states_after_power_cycle(Zns *z)
{
    Zone zones[NZONES];
    uint8_t ext[ZDES];

    report(z, zones);
    assert_zone(&zones[0], 0, NVME_ZONE_STATE_EMPTY, zslba(0));
    assert_zone(&zones[1], 1, NVME_ZONE_STATE_CLOSED, zslba(1) + 8);
    assert_zone(&zones[2], 2, NVME_ZONE_STATE_EMPTY, zslba(2));
    assert_zone(&zones[3], 3, NVME_ZONE_STATE_CLOSED, zslba(3) + 16);
    assert_zone(&zones[4], 4, NVME_ZONE_STATE_CLOSED, zslba(4) + 24);
    assert_zone(&zones[5], 5, NVME_ZONE_STATE_FULL, 0);
    assert_zone(&zones[6], 6, NVME_ZONE_STATE_FULL, 0);
    assert_zone(&zones[7], 7, NVME_ZONE_STATE_CLOSED, zslba(7));
    g_assert_cmphex(zones[7].attrs & NVME_ZA_ZD_EXT_VALID, !=, 0);
    memset(ext, 0xa7, sizeof(ext));
    g_assert_cmpmem(zones[7].ext, ZDES, ext, ZDES);
    for (int i = 8; i < NZONES; i++) {
        assert_zone(&zones[i], i, NVME_ZONE_STATE_EMPTY, zslba(i));
    }

    assert_data(z, zslba(1), 8);
    assert_data(z, zslba(3), 16);
    assert_data(z, zslba(4), 24);
    assert_data(z, zslba(5), ZCAP);
    assert_data(z, zslba(6), 4);
}

static void states_survive(Restart how)
{
    Zns *z = zns_new();
    Zone zones[NZONES];

    make_states(z);
    report(z, zones);
    g_assert_cmphex(zones[1].state, ==, NVME_ZONE_STATE_IMPLICITLY_OPEN);
    g_assert_cmphex(zones[2].state, ==, NVME_ZONE_STATE_EXPLICITLY_OPEN);
    g_assert_cmphex(zones[3].state, ==, NVME_ZONE_STATE_EXPLICITLY_OPEN);
    if (how == RESTART_KILL) {
        /* what the guest was told is durable is at least this */
        g_assert_cmphex(qnvme_flush(z->c, 1).status, ==, NVME_SUCCESS);
    }

    zns_restart(z, how);
    assert_states_after_power_cycle(z);

    /* and the writes go on at the write pointers */
    write_at(z, zslba(1) + 8, 8);
    write_at(z, zslba(3) + 16, 8);
    zns_restart(z, how);
    report(z, zones);
    assert_zone(&zones[1], 1, NVME_ZONE_STATE_CLOSED, zslba(1) + 16);
    assert_zone(&zones[3], 3, NVME_ZONE_STATE_CLOSED, zslba(3) + 24);
    assert_data(z, zslba(1), 16);
    zns_free(z);
}

static void test_states_shutdown(void)
{
    states_survive(RESTART_SHUTDOWN);
}

static void test_states_no_shutdown(void)
{
    states_survive(RESTART_QUIT);
}

static void test_states_killed(void)
{
    states_survive(RESTART_KILL);
}

/*
 * Report Zones after a clean restart equals Report Zones before it, but
 * for the open zones, which the shutdown closed.
 */
static void test_report_equal(void)
{
    Zns *z = zns_new();
    Zone before[NZONES], after[NZONES];

    make_states(z);
    report(z, before);
    zns_restart(z, RESTART_SHUTDOWN);
    report(z, after);
    for (int i = 0; i < NZONES; i++) {
        Zone want = before[i];

        if (want.state == NVME_ZONE_STATE_IMPLICITLY_OPEN ||
            want.state == NVME_ZONE_STATE_EXPLICITLY_OPEN) {
            want.state = want.wp == want.zslba ? NVME_ZONE_STATE_EMPTY :
                                                 NVME_ZONE_STATE_CLOSED;
        }
        g_assert_cmpmem(&after[i], sizeof(Zone), &want, sizeof(Zone));
    }
    zns_free(z);
}

static void expect_refused(Zns *z, const char *opts, const char *needle)
{
    g_autofree char *args = cmdline(z, z->zfile, opts);
    g_autofree char *err = qnvme_machine_expect_fail("%s", args);

    g_assert_nonnull(err);
    if (!strstr(err, needle) || !strstr(err, z->zfile)) {
        g_test_message("stderr: %s", err);
    }
    g_assert_nonnull(strstr(err, needle));
    g_assert_nonnull(strstr(err, z->zfile));
}

static void corrupt(const char *path, off_t off, uint8_t val)
{
    int fd = open(path, O_RDWR);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, &val, 1, off), ==, 1);
    close(fd);
}

/* Read Only and Offline cannot be reached by commands: edit the file. */
static void poke_state(Zns *z, uint32_t zone, uint8_t state)
{
    corrupt(z->zfile, 4096 + zone * 32, state);
}

static void save(const char *path, char **data, gsize *len)
{
    g_assert_true(g_file_get_contents(path, data, len, NULL));
}

static void restore(const char *path, const char *data, gsize len)
{
    g_assert_true(g_file_set_contents(path, data, len, NULL));
}

/*
 * An explicit ZRWA flush may not move the write pointer past the zone
 * capacity (1540 blocks here, not a multiple of the 8-block flush
 * granularity): such a write pointer could never be loaded again.
 */
static void test_zrwa_flush_capacity(void)
{
    Zns *z = g_new0(Zns, 1);
    Zone zones[NZONES];
    NvmeCmd cmd = {
        .opcode = NVME_CMD_ZONE_MGMT_SEND,
        .nsid = cpu_to_le32(1),
    };
    g_autofree char *good = NULL;
    gsize len;
    int fd;

    z->dir = qnvme_tmpdir_new();
    z->img = g_build_filename(z->dir, "zns.img", NULL);
    z->zfile = g_build_filename(z->dir, "zns.zones", NULL);
    z->opts = ",zoned.zone_capacity=788480,zoned.zrwas=32K,"
              "zoned.zrwafg=4K,zoned.numzrwa=1";
    fd = open(z->img, O_CREAT | O_RDWR, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, IMG_SIZE), ==, 0);
    close(fd);
    zns_start(z);

    /* open zone 0 with a 64-block random write area (ZRWAA) */
    cmd.cdw13 = cpu_to_le32(ZSA_OPEN | 1 << 9);
    g_assert_cmphex(qnvme_io(z->c, &cmd, NULL, 0, QNVME_TO_DEV).status, ==,
                    NVME_SUCCESS);
    for (int i = 0; i < 24; i++) {
        write_at(z, i * 64, 64);
    }
    /* explicit flushes: to 1536, then 8 more would end past 1540 */
    cmd.cdw13 = cpu_to_le32(0x11);
    cmd.cdw10 = cpu_to_le32(1535);
    g_assert_cmphex(qnvme_io(z->c, &cmd, NULL, 0, QNVME_TO_DEV).status, ==,
                    NVME_SUCCESS);
    write_at(z, 1536, 4);
    cmd.cdw10 = cpu_to_le32(1543);
    g_assert_cmphex(QNVME_STATUS(qnvme_io(z->c, &cmd, NULL, 0,
                                          QNVME_TO_DEV).status), ==,
                    NVME_ZONE_BOUNDARY_ERROR);

    g_assert_cmphex(qnvme_flush(z->c, 1).status, ==, NVME_SUCCESS);
    zns_restart(z, RESTART_KILL);
    report(z, zones);
    g_assert_cmphex(zones[0].state, ==, NVME_ZONE_STATE_CLOSED);
    g_assert_cmpuint(zones[0].wp, ==, 1536);
    /* closed, as a shutdown closes it, it keeps the only random write area */
    g_assert_cmphex(zones[0].attrs & NVME_ZA_ZRWA_VALID, !=, 0);
    cmd.cdw10 = cpu_to_le32(zslba(1));
    cmd.cdw13 = cpu_to_le32(ZSA_OPEN | 1 << 9);
    g_assert_cmphex(QNVME_STATUS(qnvme_io(z->c, &cmd, NULL, 0,
                                          QNVME_TO_DEV).status), ==,
                    NVME_NOZRWA);

    /* a file with more random write areas than the namespace has */
    zns_stop(z);
    save(z->zfile, &good, &len);
    poke_state(z, 1, NVME_ZONE_STATE_CLOSED);
    corrupt(z->zfile, 4096 + 1 * 32 + 1, NVME_ZA_ZRWA_VALID);
    expect_refused(z, z->opts, "2 zones have a random write area, more "
                   "than the 1 there are");
    restore(z->zfile, good, len);
    zns_start(z);
    report(z, zones);
    g_assert_cmphex(zones[1].state, ==, NVME_ZONE_STATE_EMPTY);
    zns_free(z);
}

/* A refused Set Zone Descriptor Extension leaves the saved one alone. */
static void test_zde_refused(void)
{
    Zns *z = zns_new();
    Zone zones[NZONES];
    uint8_t ext[ZDES];

    set_zde_ok(z, 7, 0xa7);
    memset(ext, 0x55, sizeof(ext));
    g_assert_cmphex(QNVME_STATUS(zone_send(z, 7, ZSA_SET_ZDE, ext,
                                           sizeof(ext)).status), ==,
                    NVME_ZONE_INVAL_TRANSITION);
    zns_restart(z, RESTART_KILL);
    report(z, zones);
    memset(ext, 0xa7, sizeof(ext));
    g_assert_cmpmem(zones[7].ext, ZDES, ext, ZDES);
    zns_free(z);
}

static void test_read_only_offline(void)
{
    Zns *z = zns_new();
    Zone zones[NZONES];

    /* a Read Only zone keeps its attributes, as upstream's zones do */
    set_zde_ok(z, 9, 0x99);
    write_at(z, zslba(9), 32);
    zone_send_ok(z, 9, ZSA_FINISH);
    zns_stop(z);
    poke_state(z, 9, NVME_ZONE_STATE_READ_ONLY);
    poke_state(z, 10, NVME_ZONE_STATE_OFFLINE);
    zns_start(z);

    report(z, zones);
    g_assert_cmphex(zones[9].state, ==, NVME_ZONE_STATE_READ_ONLY);
    g_assert_cmphex(zones[9].attrs & NVME_ZA_ZD_EXT_VALID, !=, 0);
    g_assert_cmphex(zones[10].state, ==, NVME_ZONE_STATE_OFFLINE);
    assert_data(z, zslba(9), 32);

    /* Read Only -> Offline by command, and that persists too */
    zone_send_ok(z, 9, ZSA_OFFLINE);
    zns_restart(z, RESTART_QUIT);
    report(z, zones);
    g_assert_cmphex(zones[9].state, ==, NVME_ZONE_STATE_OFFLINE);
    g_assert_cmphex(zones[10].state, ==, NVME_ZONE_STATE_OFFLINE);
    zns_free(z);
}

/*
 * max_active=5, max_open=3.  Four zones active after the load (all of them
 * Closed): one more zone can become active, and three can be open.
 */
static void test_limits_after_load(void)
{
    Zns *z = zns_new();

    write_at(z, zslba(0), 1);
    write_at(z, zslba(1), 1);
    zone_send_ok(z, 2, ZSA_OPEN);
    write_at(z, zslba(2), 1);
    set_zde_ok(z, 3, 0x33);
    zns_restart(z, RESTART_KILL);

    /* active: 0, 1, 2, 3 (Closed); open: none */
    zone_send_ok(z, 4, ZSA_OPEN);
    g_assert_cmphex(QNVME_STATUS(zone_send(z, 5, ZSA_OPEN, NULL, 0).status),
                    ==, NVME_ZONE_TOO_MANY_ACTIVE);
    zone_send_ok(z, 0, ZSA_OPEN);
    zone_send_ok(z, 1, ZSA_OPEN);
    g_assert_cmphex(QNVME_STATUS(zone_send(z, 2, ZSA_OPEN, NULL, 0).status),
                    ==, NVME_ZONE_TOO_MANY_OPEN);
    /* resetting a zone gives an active resource back */
    zone_send_ok(z, 3, ZSA_RESET);
    zone_send_ok(z, 0, ZSA_CLOSE);
    zone_send_ok(z, 5, ZSA_OPEN);
    zns_free(z);
}

/* A file with some state, QEMU stopped. */
static Zns *zns_with_state(void)
{
    Zns *z = zns_new();

    write_at(z, zslba(1), 8);
    set_zde_ok(z, 2, 0x22);
    zns_stop(z);
    return z;
}

static void test_geometry_mismatch(void)
{
    Zns *z = zns_with_state();
    Zone zones[NZONES];

    expect_refused(z, ",zoned.zone_size=2M", "zone size");
    expect_refused(z, ",zoned.zone_capacity=512K", "zone capacity");
    expect_refused(z, ",zoned.descr_ext_size=128", "descriptor extension");
    expect_refused(z, ",logical_block_size=4096,physical_block_size=4096",
                   "LBA size");
    g_assert_cmpint(truncate(z->img, IMG_SIZE * 2), ==, 0);
    expect_refused(z, NULL, "number of zones");
    g_assert_cmpint(truncate(z->img, IMG_SIZE), ==, 0);

    /* none of that touched the file */
    zns_start(z);
    report(z, zones);
    assert_zone(&zones[1], 1, NVME_ZONE_STATE_CLOSED, zslba(1) + 8);
    assert_zone(&zones[2], 2, NVME_ZONE_STATE_CLOSED, zslba(2));
    zns_stop(z);

    /* only an explicit request starts afresh */
    z->opts = ",zoned.zone_size=2M,zoned.zone_file_reinit=on";
    zns_start(z);
    g_assert_cmphex(zone_send(z, 0, ZSA_OPEN, NULL, 0).status, ==,
                    NVME_SUCCESS);
    zns_free(z);
}

static void test_damaged(void)
{
    Zns *z = zns_with_state();
    g_autofree char *good = NULL;
    gsize len;

    save(z->zfile, &good, &len);

    g_assert_cmpint(truncate(z->zfile, 100), ==, 0);
    expect_refused(z, NULL, "truncated");
    restore(z->zfile, good, len);
    g_assert_cmpint(truncate(z->zfile, len - 4096), ==, 0);
    expect_refused(z, NULL, "truncated");
    restore(z->zfile, good, len);

    corrupt(z->zfile, 0, 'X');
    expect_refused(z, NULL, "bad magic");
    restore(z->zfile, good, len);

    corrupt(z->zfile, 40, 0x55);    /* inside the geometry */
    expect_refused(z, NULL, "checksum");
    restore(z->zfile, good, len);

    corrupt(z->zfile, 4096 + 3 * 32, 0x7);
    expect_refused(z, NULL, "zone 3 has the invalid state");
    restore(z->zfile, good, len);

    corrupt(z->zfile, 4096 + 1 * 32 + 8 + 3, 0x40);    /* wp far away */
    expect_refused(z, NULL, "zone 1 (state 0x");
    restore(z->zfile, good, len);

    corrupt(z->zfile, 4096 + 5 * 32 + 1, 0x40);
    expect_refused(z, NULL, "zone 5 has the invalid attributes");
    restore(z->zfile, good, len);

    /* a random write area without zoned.zrwas, on a Full zone */
    corrupt(z->zfile, 4096 + 5 * 32 + 1, NVME_ZA_ZRWA_VALID);
    expect_refused(z, NULL, "zone 5 has the invalid attributes");
    restore(z->zfile, good, len);

    /* the original still loads, untouched by all of this */
    zns_start(z);
    zns_free(z);
}

/*
 * A creation that a crash cut short (the header, written last, still
 * zeroes) is finished at the next start, every zone Empty.
 */
static void test_interrupted_init(void)
{
    Zns *z = zns_with_state();
    Zone zones[NZONES];

    for (int i = 0; i < 8; i++) {
        corrupt(z->zfile, i, 0);
    }
    zns_start(z);
    report(z, zones);
    assert_zone(&zones[1], 1, NVME_ZONE_STATE_EMPTY, zslba(1));
    assert_zone(&zones[2], 2, NVME_ZONE_STATE_EMPTY, zslba(2));
    zns_restart(z, RESTART_QUIT);
    report(z, zones);
    assert_zone(&zones[1], 1, NVME_ZONE_STATE_EMPTY, zslba(1));
    zns_free(z);
}

static void test_lock(void)
{
    Zns *z = zns_new();
    g_autofree char *img2 = g_build_filename(z->dir, "other.img", NULL);
    g_autofree char *err = NULL;
    int fd = open(img2, O_CREAT | O_RDWR, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, IMG_SIZE), ==, 0);
    close(fd);
    err = qnvme_machine_expect_fail(
        "-drive file=%s,if=none,id=z0,format=raw "
        "-device nvme,serial=zns1 -device nvme-ns,drive=z0,zoned=on,"
        "zoned.zone_size=1M,zoned.zone_file=%s", img2, z->zfile);
    g_assert_nonnull(strstr(err, "in use by another process"));
    zns_free(z);
}

static void test_needs_zoned(void)
{
    Zns *z = zns_new();
    g_autofree char *err = NULL;

    zns_stop(z);
    err = qnvme_machine_expect_fail(
        "-drive file=%s,if=none,id=z0,format=raw "
        "-device nvme,serial=zns1 -device nvme-ns,drive=z0,"
        "zoned.zone_file=%s", z->img, z->zfile);
    g_assert_nonnull(strstr(err, "zoned.zone_file needs zoned=on"));
    zns_free(z);
}

static void test_new_file(void)
{
    Zns *z = zns_new();
    struct stat st;

    g_assert_cmpint(stat(z->zfile, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    g_assert_cmpint(st.st_size % 4096, ==, 0);
    g_assert_cmpint(st.st_size, >=, 4096 + NZONES * (32 + ZDES));
    zns_free(z);
}

/* Format NVM of a zoned namespace: every zone Empty, and it persists. */
/*
 * F4: the guest formats a static zoned namespace to another LBA format;
 * QEMU restarts with the command line's block size.  Format left every
 * zone Empty, so the zone state file is laid out anew and QEMU starts.
 */
/*
 * F4: a static namespace that the guest formatted to 4 KiB blocks comes
 * back in that format (the command line still says 512 bytes), with its
 * zones and data, after a kill and after a clean restart: a drive keeps
 * its format across power cycles.
 */
static void test_format_restart(void)
{
    Zns *z = zns_new();
    Zone zones[NZONES];
    uint8_t buf[3 * 4096], got[3 * 4096];
    NvmeIdNs id;

    make_states(z);
    g_assert_cmphex(qnvme_format(z->c, 1, 4, 0, 0, 0).status, ==,
                    NVME_SUCCESS);
    /* 1 MiB zones of 4 KiB blocks: zone 2 starts at LBA 512 */
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = i * 13 + 5;
    }
    g_assert_cmphex(qnvme_write(z->c, 1, 2 * 256, 3, buf, sizeof(buf)).status,
                    ==, NVME_SUCCESS);

    for (int round = 0; round < 2; round++) {
        zns_restart(z, round ? RESTART_SHUTDOWN : RESTART_KILL);
        g_assert_cmphex(qnvme_identify(z->c, NVME_ID_CNS_NS, 1, 0, 0,
                                       &id).status, ==, NVME_SUCCESS);
        g_assert_cmpuint(NVME_ID_NS_FLBAS_INDEX(id.flbas), ==, 4);
        g_assert_cmpuint(le64_to_cpu(id.nsze), ==, IMG_SIZE / 4096);
        report(z, zones);
        for (int i = 0; i < NZONES; i++) {
            g_assert_cmpuint(zones[i].zslba, ==, i * 256);
            g_assert_cmphex(zones[i].state, ==, i == 2 ?
                            NVME_ZONE_STATE_CLOSED : NVME_ZONE_STATE_EMPTY);
            g_assert_cmpuint(zones[i].wp, ==, i * 256 + (i == 2 ? 3 : 0));
        }
        g_assert_cmphex(qnvme_read(z->c, 1, 2 * 256, 3, got,
                                   sizeof(got)).status, ==, NVME_SUCCESS);
        g_assert_cmpmem(got, sizeof(got), buf, sizeof(buf));
    }
    zns_free(z);
}

static void test_format(void)
{
    Zns *z = zns_new();
    Zone zones[NZONES];
    NvmeIdNsZoned idz;

    make_states(z);
    g_assert_cmphex(qnvme_format(z->c, 1, 0, 0, 0, 0).status, ==,
                    NVME_SUCCESS);
    report(z, zones);
    for (int i = 0; i < NZONES; i++) {
        assert_zone(&zones[i], i, NVME_ZONE_STATE_EMPTY, zslba(i));
        g_assert_cmphex(zones[i].attrs, ==, 0);
    }
    write_at(z, zslba(2), 4);
    zns_restart(z, RESTART_KILL);
    report(z, zones);
    assert_zone(&zones[2], 2, NVME_ZONE_STATE_CLOSED, zslba(2) + 4);
    assert_zone(&zones[5], 5, NVME_ZONE_STATE_EMPTY, zslba(5));
    g_assert_cmphex(zones[7].attrs, ==, 0);

    /* the zone format of LBA format 4 (4 KiB): 1 MiB is 256 blocks */
    g_assert_cmphex(qnvme_identify(z->c, NVME_ID_CNS_CS_NS, 1, 0,
                                   NVME_CSI_ZONED, &idz).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpuint(le64_to_cpu(idz.lbafe[0].zsze), ==, ZSZE);
    g_assert_cmpuint(le64_to_cpu(idz.lbafe[4].zsze), ==, 256);
    g_assert_cmpuint(idz.lbafe[4].zdes, ==, ZDES / 64);
    zns_free(z);
}

/*
 * Zoned namespaces made with Namespace Management (CSI 02h) in a store
 * whose zone format is 1 MiB zones of 768 KiB capacity, 64-byte
 * descriptor extensions.
 */
#define POOL (64 * MiB)

static QNvmeMachine *start_store(const char *dir)
{
    return qnvme_machine_start("-device nvme,id=zstore,addr=%d.0,"
                               "serial=zstore,"
                               "auto-ns-path=%s,auto-ns-tnvmcap=%llu,"
                               "auto-ns-zone-size=1M,"
                               "auto-ns-zone-capacity=768K,"
                               "auto-ns-zone-descr-ext-size=64,"
                               "auto-ns-zone-max-active=5",
                               SLOT, dir, (unsigned long long)POOL);
}

static uint8_t lbads(uint8_t lbaf)
{
    return lbaf < 4 ? 9 : 12;
}

static uint32_t create_zoned(QNvmeCtrl *c, uint8_t lbaf, uint32_t nzones)
{
    uint64_t nsze = (uint64_t)nzones * (MiB >> lbads(lbaf));
    QNvmeResult r = qnvme_ns_create(c, NVME_CSI_ZONED, nsze, nsze, lbaf, 0,
                                    0);
    uint16_t cntlid = 0;

    g_assert_cmphex(r.status, ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_ns_attach(c, r.dw0, false, &cntlid, 1).status, ==,
                    NVME_SUCCESS);
    return r.dw0;
}

static void write_one(QNvmeCtrl *c, uint32_t nsid, uint8_t lbaf, uint64_t lba)
{
    size_t len = 1 << lbads(lbaf);
    g_autofree uint8_t *buf = g_malloc(len);

    memset(buf, (uint8_t)(nsid + lba), len);
    g_assert_cmphex(qnvme_write(c, nsid, lba, 1, buf, len).status, ==,
                    NVME_SUCCESS);
}

static void test_store_each_format(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT);
    NvmeIdNsZoned idz;
    Zone zones[4];

    for (uint8_t lbaf = 0; lbaf < 8; lbaf++) {
        uint64_t zsze = MiB >> lbads(lbaf);
        uint32_t nsid = create_zoned(c, lbaf, 4);

        g_assert_cmpuint(nsid, ==, lbaf + 1);
        g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_CS_NS, nsid, 0,
                                       NVME_CSI_ZONED, &idz).status, ==,
                        NVME_SUCCESS);
        g_assert_cmpuint(le64_to_cpu(idz.lbafe[lbaf].zsze), ==, zsze);
        g_assert_cmpuint(idz.lbafe[lbaf].zdes, ==, 1);
        report_ns(c, nsid, 4, zones);
        g_assert_cmpuint(zones[3].zslba, ==, 3 * zsze);
        g_assert_cmpuint(zones[3].zcap, ==, 768 * KiB >> lbads(lbaf));
        write_one(c, nsid, lbaf, zsze + 0);
        write_one(c, nsid, lbaf, zsze + 1);
    }
    g_assert_cmpint(qnvme_dir_count(dir, "ns-", ".zones"), ==, 8);

    qnvme_ctrl_close(c);
    m = qnvme_machine_crash_restart(m);
    c = qnvme_ctrl_open(m, SLOT);
    for (uint8_t lbaf = 0; lbaf < 8; lbaf++) {
        uint64_t zsze = MiB >> lbads(lbaf);

        report_ns(c, lbaf + 1, 4, zones);
        g_assert_cmphex(zones[0].state, ==, NVME_ZONE_STATE_EMPTY);
        g_assert_cmphex(zones[1].state, ==, NVME_ZONE_STATE_CLOSED);
        g_assert_cmpuint(zones[1].wp, ==, zsze + 2);
    }

    g_assert_cmphex(qnvme_ns_delete(c, NVME_NSID_BROADCAST).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpint(qnvme_dir_count(dir, "ns-", ".zones"), ==, 0);
    g_assert_cmpint(qnvme_dir_count(dir, "ns-", ".img"), ==, 0);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

static void test_store_zone_formats(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT);
    NvmeIdNsZoned idz;
    QNvmeResult r;

    /* what a create offers, before any zoned namespace exists */
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_CS_NS, NVME_NSID_BROADCAST,
                                   0, NVME_CSI_ZONED, &idz).status, ==,
                    NVME_SUCCESS);
    for (int i = 0; i < 8; i++) {
        g_assert_cmpuint(le64_to_cpu(idz.lbafe[i].zsze), ==,
                         MiB >> lbads(i));
        g_assert_cmpuint(idz.lbafe[i].zdes, ==, 1);
    }
    /* 0's based; an active limit alone limits open zones too */
    g_assert_cmpuint(le32_to_cpu(idz.mar), ==, 4);
    g_assert_cmpuint(le32_to_cpu(idz.mor), ==, 4);
    create_zoned(c, 0, 2);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_CS_NS, 1, 0,
                                   NVME_CSI_ZONED, &idz).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(idz.mar), ==, 4);
    g_assert_cmpuint(le32_to_cpu(idz.mor), ==, 4);
    /* the allocated-namespace variant (CNS 1Bh) has no common form */
    g_assert_cmphex(qnvme_identify(c, 0x1b, NVME_NSID_BROADCAST, 0,
                                   NVME_CSI_ZONED, &idz).status, ==,
                    NVME_INVALID_NSID | NVME_DNR);

    /* half a zone */
    r = qnvme_ns_create(c, NVME_CSI_ZONED, 3 * 1024, 3 * 1024, 0, 0, 0);
    g_assert_cmphex(r.status, ==, NVME_INVALID_FIELD | NVME_DNR);
    /* an I/O command set that does not exist */
    r = qnvme_ns_create(c, 0x3, 2048, 2048, 0, 0, 0);
    g_assert_cmphex(r.status, ==, NVME_IOCS_NOT_SUPPORTED | NVME_DNR);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);

    /* without a store there is no zone format to offer */
    m = qnvme_machine_start("-device nvme,addr=%d.0,serial=nostore", SLOT);
    c = qnvme_ctrl_open(m, SLOT);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_CS_NS, NVME_NSID_BROADCAST,
                                   0, NVME_CSI_ZONED, &idz).status, ==,
                    NVME_INVALID_NSID | NVME_DNR);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/* The zone format of a store held by the subsystem is the subsystem's. */
static void test_store_subsys_zone_format(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = qnvme_machine_start(
        "-device nvme-subsys,id=subsys0,auto-ns-path=%s,"
        "auto-ns-tnvmcap=%llu,auto-ns-zone-size=2M,"
        "auto-ns-zone-capacity=1M,auto-ns-zone-descr-ext-size=64 "
        "-device nvme,addr=%d.0,serial=zsub,subsys=subsys0,"
        "auto-ns-zone-size=8M", dir, (unsigned long long)POOL, SLOT);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT);
    NvmeIdNsZoned idz;
    Zone zones[2];

    /* the controller's own auto-ns-zone-size does not apply */
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_CS_NS, NVME_NSID_BROADCAST,
                                   0, NVME_CSI_ZONED, &idz).status, ==,
                    NVME_SUCCESS);
    g_assert_cmpuint(le64_to_cpu(idz.lbafe[0].zsze), ==, 4096);
    g_assert_cmpuint(le64_to_cpu(idz.lbafe[4].zsze), ==, 512);
    g_assert_cmphex(qnvme_ns_create(c, NVME_CSI_ZONED, 8192, 8192, 0, 0,
                                    0).status, ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_ns_attach(c, 1, false, &(uint16_t){0}, 1).status,
                    ==, NVME_SUCCESS);
    report_ns(c, 1, 2, zones);
    g_assert_cmpuint(zones[1].zslba, ==, 4096);
    g_assert_cmpuint(zones[1].zcap, ==, 2048);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/* Format NVM of a zoned namespace of the store, 512 B to 4 KiB blocks. */
static void test_store_format(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT);
    NvmeIdNs id;
    Zone zones[4];

    create_zoned(c, 0, 4);
    write_one(c, 1, 0, 2048);
    g_assert_cmphex(qnvme_format(c, 1, 4, 0, 0, 0).status, ==, NVME_SUCCESS);
    report_ns(c, 1, 4, zones);
    g_assert_cmphex(zones[1].state, ==, NVME_ZONE_STATE_EMPTY);
    g_assert_cmpuint(zones[1].zslba, ==, 256);
    write_one(c, 1, 4, 256 * 2);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, 1, 0, 0, &id).status,
                    ==, NVME_SUCCESS);
    g_assert_cmpuint(NVME_ID_NS_FLBAS_INDEX(id.flbas), ==, 4);
    g_assert_cmpuint(le64_to_cpu(id.nsze), ==, 4 * 256);
    report_ns(c, 1, 4, zones);
    g_assert_cmphex(zones[1].state, ==, NVME_ZONE_STATE_EMPTY);
    g_assert_cmphex(zones[2].state, ==, NVME_ZONE_STATE_CLOSED);
    g_assert_cmpuint(zones[2].wp, ==, 256 * 2 + 1);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * F5: a crash during Format NVM of a zoned store namespace after the zone
 * state file was laid out for the new format and before the record says
 * it.  The zones are all Empty then: the store loads, in the recorded
 * format, the file laid out anew.
 */
static void test_store_format_crash(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT);
    g_autofree char *rec = NULL;
    g_autofree char *old = NULL;
    gsize len;
    NvmeIdNs id;
    Zone zones[4];

    create_zoned(c, 0, 4);
    write_one(c, 1, 0, 2048);
    rec = qnvme_dir_only(dir, "ns-", ".json");
    g_assert_true(g_file_get_contents(rec, &old, &len, NULL));
    g_assert_cmphex(qnvme_format(c, 1, 4, 0, 0, 0).status, ==, NVME_SUCCESS);
    qnvme_ctrl_close(c);
    /* the record as it was before the Format: its write never happened */
    g_assert_true(g_file_set_contents(rec, old, len, NULL));
    m = qnvme_machine_crash_restart(m);

    /*
     * The zone state file was laid out for the new format, which the
     * namespace takes back (the Format did not complete, so either format
     * is right); the record catches up.
     */
    c = qnvme_ctrl_open(m, SLOT);
    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, 1, 0, 0, &id).status,
                    ==, NVME_SUCCESS);
    g_assert_cmpuint(NVME_ID_NS_FLBAS_INDEX(id.flbas), ==, 4);
    report_ns(c, 1, 4, zones);
    for (int i = 0; i < 4; i++) {
        g_assert_cmphex(zones[i].state, ==, NVME_ZONE_STATE_EMPTY);
    }
    write_one(c, 1, 4, 256 * 3);
    g_free(old);
    g_assert_true(g_file_get_contents(rec, &old, &len, NULL));
    g_assert_nonnull(strstr(old, "\"lbaf\": 4"));
    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT);
    report_ns(c, 1, 4, zones);
    g_assert_cmphex(zones[3].state, ==, NVME_ZONE_STATE_CLOSED);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

static void expect_store_refused(const char *dir, const char *needle1,
                                 const char *needle2)
{
    g_autofree char *err = qnvme_machine_expect_fail(
        "-device nvme,serial=zs,auto-ns-path=%s", dir);

    if (!strstr(err, needle1) || !strstr(err, needle2)) {
        g_test_message("stderr: %s", err);
    }
    g_assert_nonnull(strstr(err, needle1));
    g_assert_nonnull(strstr(err, needle2));
}

static void test_store_damaged(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT);
    g_autofree char *rec = NULL;
    g_autofree char *zfile = NULL;
    g_autofree char *json = NULL;
    g_autofree char *zones = NULL;
    gsize jlen, zlen;

    create_zoned(c, 0, 4);
    write_one(c, 1, 0, 0);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    rec = qnvme_dir_only(dir, "ns-", ".json");
    zfile = qnvme_dir_only(dir, "ns-", ".zones");
    save(rec, &json, &jlen);
    save(zfile, &zones, &zlen);

    g_assert_cmpint(unlink(zfile), ==, 0);
    expect_store_refused(dir, rec, "zone file");
    restore(zfile, zones, zlen);

    corrupt(zfile, 0, 'X');
    expect_store_refused(dir, zfile, "bad magic");
    restore(zfile, zones, zlen);

    /* a zone format no LBA format has whole zones in */
    g_assert_true(g_regex_match_simple("\"zone_size\": 1048576", json, 0, 0));
    {
        g_auto(GStrv) parts = g_strsplit(json, "\"zone_size\": 1048576", 2);
        g_autofree char *bad = g_strjoinv("\"zone_size\": 1048000", parts);

        restore(rec, bad, -1);
        expect_store_refused(dir, rec, "zone size");
    }
    /* zoned keys on a namespace of the NVM command set */
    {
        g_auto(GStrv) parts = g_strsplit(json, "\"csi\": 2", 2);
        g_autofree char *bad = g_strjoinv("\"csi\": 0", parts);

        restore(rec, bad, -1);
        expect_store_refused(dir, rec, "only for zoned namespaces");
    }
    restore(rec, json, jlen);

    /* and the store is as it was */
    m = start_store(dir);
    c = qnvme_ctrl_open(m, SLOT);
    {
        Zone zs[4];

        report_ns(c, 1, 4, zs);
        g_assert_cmpuint(zs[0].wp, ==, 1);
    }
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * Delete with auto-ns-purge=off keeps the zone file aside with the image;
 * a zone file without a record is left alone.
 */
static void test_store_keep_and_orphan(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    g_autofree char *orphan = g_build_filename(
        dir, "ns-00000000-0000-4000-8000-000000000001.zones", NULL);
    QNvmeMachine *m;
    QNvmeCtrl *c;

    g_assert_true(g_file_set_contents(orphan, "zones", 5, NULL));
    m = qnvme_machine_start("-device nvme,addr=%d.0,serial=zkeep,"
                            "auto-ns-path=%s,auto-ns-tnvmcap=%llu,"
                            "auto-ns-zone-size=1M,auto-ns-purge=off",
                            SLOT, dir, (unsigned long long)POOL);
    c = qnvme_ctrl_open(m, SLOT);
    create_zoned(c, 0, 2);
    g_assert_cmphex(qnvme_ns_delete(c, 1).status, ==, NVME_SUCCESS);
    g_assert_cmpint(qnvme_dir_count(dir, "ns-", ".json"), ==, 0);
    g_assert_cmpint(qnvme_dir_count(dir, "ns-", ".img"), ==, 0);
    g_assert_cmpint(qnvme_dir_count(dir, "deleted-ns-", ".img"), ==, 1);
    g_assert_cmpint(qnvme_dir_count(dir, "deleted-ns-", ".zones"), ==, 1);
    g_assert_true(g_file_test(orphan, G_FILE_TEST_EXISTS));
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * nvme-ns-resize of zoned namespace 1 of start_store()'s store to SIZE
 * bytes: done, or refused with a message that contains REFUSED.
 */
static void resize(QNvmeMachine *m, uint64_t size, bool force,
                   const char *refused)
{
    QDict *rsp = qtest_qmp(m->qts, "{'execute': 'nvme-ns-resize', "
                           "'arguments': {'subsys': 'zstore', 'nsid': 1, "
                           "'size': %" PRId64 ", 'force': %i}}",
                           (int64_t)size, force);

    if (refused) {
        QDict *err = qdict_get_qdict(rsp, "error");

        g_assert_nonnull(err);
        g_test_message("refused: %s", qdict_get_str(err, "desc"));
        g_assert_nonnull(strstr(qdict_get_str(err, "desc"), refused));
    } else {
        g_assert_true(qdict_haskey(rsp, "return"));
    }
    qobject_unref(rsp);
}

static QNvmeResult zone_send_ns(QNvmeCtrl *c, uint32_t zone, uint8_t zsa)
{
    Zns z = { .c = c };

    return zone_send(&z, zone, zsa, NULL, 0);
}

static uint64_t id_nsze(QNvmeCtrl *c)
{
    NvmeIdNs id;

    g_assert_cmphex(qnvme_identify(c, NVME_ID_CNS_NS, 1, 0, 0, &id).status,
                    ==, NVME_SUCCESS);
    return le64_to_cpu(id.nsze);
}

/*
 * The host grows a zoned namespace of the store by whole zones, then
 * shrinks it (force): the zones it keeps keep their states, write
 * pointers and extensions; new zones are Empty; the open and active
 * resources of the zones that go are free again; a restart loads the
 * result.
 */
static void test_store_resize(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT);
    Zns z = { .c = c };
    uint8_t blk[512] = {};
    Zone zs[8];

    create_zoned(c, 0, 4);
    write_one(c, 1, 0, 0);
    write_one(c, 1, 0, 1);                      /* 0: open, wp 2 */
    set_zde_ok(&z, 1, 0x5a);                    /* 1: Closed, extension */
    write_one(c, 1, 0, zslba(3));
    zone_send_ok(&z, 3, ZSA_FINISH);            /* 3: Full */

    resize(m, 8 * MiB + 512, false, "whole number of zones");
    resize(m, 5 * MiB - MiB / 2, false, "whole number of zones");
    resize(m, 8 * MiB, false, NULL);
    g_assert_cmpuint(id_nsze(c), ==, 8 * ZSZE);
    report_ns(c, 1, 8, zs);
    assert_zone(&zs[0], 0, NVME_ZONE_STATE_IMPLICITLY_OPEN, zslba(0) + 2);
    assert_zone(&zs[1], 1, NVME_ZONE_STATE_CLOSED, zslba(1));
    g_assert_cmphex(zs[1].ext[0], ==, 0x5a);
    assert_zone(&zs[3], 3, NVME_ZONE_STATE_FULL, zslba(3) + ZCAP);
    for (int i = 4; i < 8; i++) {
        assert_zone(&zs[i], i, NVME_ZONE_STATE_EMPTY, zslba(i));
        g_assert_cmpuint(zs[i].zcap, ==, ZCAP);
    }
    /* five active zones, the limit: 0, 1, 5, 6, 7 */
    for (int i = 5; i < 8; i++) {
        write_one(c, 1, 0, zslba(i));
    }
    g_assert_cmphex(zone_send_ns(c, 2, ZSA_OPEN).status, ==,
                    NVME_ZONE_TOO_MANY_ACTIVE | NVME_DNR);

    resize(m, 5 * MiB, false, "set force");
    resize(m, 5 * MiB, true, NULL);
    g_assert_cmpuint(id_nsze(c), ==, 5 * ZSZE);
    report_ns(c, 1, 5, zs);
    assert_zone(&zs[4], 4, NVME_ZONE_STATE_EMPTY, zslba(4));
    /* 5, 6 and 7 took their resources with them */
    zone_send_ok(&z, 2, ZSA_OPEN);
    zone_send_ok(&z, 4, ZSA_OPEN);
    g_assert_cmphex(qnvme_write(c, 1, zslba(5), 1, blk, sizeof(blk)).status, ==,
                    NVME_LBA_RANGE | NVME_DNR);
    g_assert_cmpint(qnvme_dir_count(dir, "ns-", ".tmp"), ==, 0);

    qnvme_ctrl_close(c);
    m = qnvme_machine_restart(m);
    c = qnvme_ctrl_open(m, SLOT);
    g_assert_cmpuint(id_nsze(c), ==, 5 * ZSZE);
    report_ns(c, 1, 5, zs);
    assert_zone(&zs[0], 0, NVME_ZONE_STATE_CLOSED, zslba(0) + 2);
    assert_zone(&zs[1], 1, NVME_ZONE_STATE_CLOSED, zslba(1));
    g_assert_cmphex(zs[1].ext[0], ==, 0x5a);
    assert_zone(&zs[2], 2, NVME_ZONE_STATE_EMPTY, zslba(2));
    assert_zone(&zs[3], 3, NVME_ZONE_STATE_FULL, zslba(3) + ZCAP);
    assert_zone(&zs[4], 4, NVME_ZONE_STATE_EMPTY, zslba(4));
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * A crash between the steps of a resize: the record has more zones than
 * the zone file (the file is older), and the namespace loads with the
 * file's zones and Empty ones after them.  A file with more zones than
 * its record (which no resize leaves) is refused, naming the file.
 */
static void test_store_resize_cut_short(void)
{
    g_autofree char *dir = qnvme_tmpdir_new();
    QNvmeMachine *m = start_store(dir);
    QNvmeCtrl *c = qnvme_ctrl_open(m, SLOT);
    Zns z = { .c = c };
    g_autofree char *zfile = NULL;
    g_autofree char *four = NULL, *six = NULL;
    gsize four_len, six_len;
    Zone zs[6];

    create_zoned(c, 0, 4);
    write_one(c, 1, 0, 0);
    set_zde_ok(&z, 1, 0x3c);
    zfile = qnvme_dir_only(dir, "ns-", ".zones");
    save(zfile, &four, &four_len);
    resize(m, 6 * MiB, false, NULL);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);

    restore(zfile, four, four_len);
    m = start_store(dir);
    c = qnvme_ctrl_open(m, SLOT);
    g_assert_cmpuint(id_nsze(c), ==, 6 * ZSZE);
    report_ns(c, 1, 6, zs);
    assert_zone(&zs[0], 0, NVME_ZONE_STATE_CLOSED, zslba(0) + 1);
    assert_zone(&zs[1], 1, NVME_ZONE_STATE_CLOSED, zslba(1));
    g_assert_cmphex(zs[1].ext[0], ==, 0x3c);
    assert_zone(&zs[4], 4, NVME_ZONE_STATE_EMPTY, zslba(4));
    assert_zone(&zs[5], 5, NVME_ZONE_STATE_EMPTY, zslba(5));
    write_one(c, 1, 0, zslba(5));
    save(zfile, &six, &six_len);
    resize(m, 4 * MiB, true, NULL);
    qnvme_ctrl_close(c);
    qnvme_machine_stop(m);

    /* the file, laid out for six zones at the load, loads as such */
    restore(zfile, six, six_len);
    expect_store_refused(dir, zfile, "number of zones is 6, the namespace "
                         "has 4");
    qnvme_tmpdir_free(g_steal_pointer(&dir));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/nvme-zns-state/states/shutdown", test_states_shutdown);
    qtest_add_func("/nvme-zns-state/states/no-shutdown",
                   test_states_no_shutdown);
    qtest_add_func("/nvme-zns-state/states/killed", test_states_killed);
    qtest_add_func("/nvme-zns-state/report-equal", test_report_equal);
    qtest_add_func("/nvme-zns-state/zde-refused", test_zde_refused);
    qtest_add_func("/nvme-zns-state/zrwa-flush-capacity",
                   test_zrwa_flush_capacity);
    qtest_add_func("/nvme-zns-state/read-only-offline",
                   test_read_only_offline);
    qtest_add_func("/nvme-zns-state/limits-after-load",
                   test_limits_after_load);
    qtest_add_func("/nvme-zns-state/geometry-mismatch",
                   test_geometry_mismatch);
    qtest_add_func("/nvme-zns-state/damaged", test_damaged);
    qtest_add_func("/nvme-zns-state/interrupted-init",
                   test_interrupted_init);
    qtest_add_func("/nvme-zns-state/lock", test_lock);
    qtest_add_func("/nvme-zns-state/needs-zoned", test_needs_zoned);
    qtest_add_func("/nvme-zns-state/new-file", test_new_file);
    qtest_add_func("/nvme-zns-state/format", test_format);
    qtest_add_func("/nvme-zns-state/format-restart", test_format_restart);
    qtest_add_func("/nvme-zns-state/store/each-format",
                   test_store_each_format);
    qtest_add_func("/nvme-zns-state/store/zone-formats",
                   test_store_zone_formats);
    qtest_add_func("/nvme-zns-state/store/subsys-zone-format",
                   test_store_subsys_zone_format);
    qtest_add_func("/nvme-zns-state/store/format", test_store_format);
    qtest_add_func("/nvme-zns-state/store/format-crash",
                   test_store_format_crash);
    qtest_add_func("/nvme-zns-state/store/damaged", test_store_damaged);
    qtest_add_func("/nvme-zns-state/store/resize", test_store_resize);
    qtest_add_func("/nvme-zns-state/store/resize-cut-short",
                   test_store_resize_cut_short);
    qtest_add_func("/nvme-zns-state/store/keep-and-orphan",
                   test_store_keep_and_orphan);

    return g_test_run();
}
