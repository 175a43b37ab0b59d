/*
 * QEMU NVM Express: persistent zone state
 *
 * Copyright (c) 2026 The qemu-nvme-ns authors
 *
 * This code is licensed under the GNU GPL v2 or later.
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

typedef struct NvmeZnsState NvmeZnsState;

#endif /* HW_NVME_ZNS_STATE_H */
