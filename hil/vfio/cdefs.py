"""The `linux/vfio.h` uapi as cffi sees it, and libc's `ioctl`.

ABI mode (no compiler on the lab machine): every layout below is written
out by hand, so `tests/vfio/test_cdefs_match_header.py` compiles the real
header and checks each size, offset and constant against these lines.

Layouts follow the header as it is in Debian bookworm's linux-libc-dev
(6.1).  Later headers append `__u32 pad` to `vfio_device_info` and
`vfio_iommu_type1_info`; the kernel only requires `argsz` to reach the end
of `cap_offset`, so the shorter layout works on every kernel.

Every VFIO ioctl is `_IO(';', 100 + n)`, i.e. 0x3B64 + n; 12, 13 and 14
mean different things on a device fd and on a container fd (only the
container meanings are declared here).
"""

from __future__ import annotations

from typing import Any

import cffi

ffi = cffi.FFI()
ffi.cdef(
    """
    struct vfio_info_cap_header {
        uint16_t id;
        uint16_t version;
        uint32_t next;
    };

    struct vfio_group_status {
        uint32_t argsz;
        uint32_t flags;
    };

    struct vfio_device_info {
        uint32_t argsz;
        uint32_t flags;
        uint32_t num_regions;
        uint32_t num_irqs;
        uint32_t cap_offset;
    };

    struct vfio_region_info {
        uint32_t argsz;
        uint32_t flags;
        uint32_t index;
        uint32_t cap_offset;
        uint64_t size;
        uint64_t offset;
    };

    struct vfio_region_sparse_mmap_area {
        uint64_t offset;
        uint64_t size;
    };

    struct vfio_region_info_cap_sparse_mmap {
        struct vfio_info_cap_header header;
        uint32_t nr_areas;
        uint32_t reserved;
        struct vfio_region_sparse_mmap_area areas[];
    };

    struct vfio_region_info_cap_type {
        struct vfio_info_cap_header header;
        uint32_t type;
        uint32_t subtype;
    };

    struct vfio_irq_info {
        uint32_t argsz;
        uint32_t flags;
        uint32_t index;
        uint32_t count;
    };

    struct vfio_irq_set {
        uint32_t argsz;
        uint32_t flags;
        uint32_t index;
        uint32_t start;
        uint32_t count;
        uint8_t data[];
    };

    struct vfio_iommu_type1_info {
        uint32_t argsz;
        uint32_t flags;
        uint64_t iova_pgsizes;
        uint32_t cap_offset;
    };

    struct vfio_iommu_type1_dma_map {
        uint32_t argsz;
        uint32_t flags;
        uint64_t vaddr;
        uint64_t iova;
        uint64_t size;
    };

    struct vfio_iommu_type1_dma_unmap {
        uint32_t argsz;
        uint32_t flags;
        uint64_t iova;
        uint64_t size;
        uint8_t data[];
    };

    enum {
        VFIO_PCI_BAR0_REGION_INDEX,
        VFIO_PCI_BAR1_REGION_INDEX,
        VFIO_PCI_BAR2_REGION_INDEX,
        VFIO_PCI_BAR3_REGION_INDEX,
        VFIO_PCI_BAR4_REGION_INDEX,
        VFIO_PCI_BAR5_REGION_INDEX,
        VFIO_PCI_ROM_REGION_INDEX,
        VFIO_PCI_CONFIG_REGION_INDEX,
        VFIO_PCI_VGA_REGION_INDEX,
        VFIO_PCI_NUM_REGIONS = 9
    };

    enum {
        VFIO_PCI_INTX_IRQ_INDEX,
        VFIO_PCI_MSI_IRQ_INDEX,
        VFIO_PCI_MSIX_IRQ_INDEX,
        VFIO_PCI_ERR_IRQ_INDEX,
        VFIO_PCI_REQ_IRQ_INDEX,
        VFIO_PCI_NUM_IRQS
    };

    #define VFIO_API_VERSION 0
    #define VFIO_TYPE1_IOMMU 1
    #define VFIO_TYPE1v2_IOMMU 3
    #define VFIO_NOIOMMU_IOMMU 8

    #define VFIO_GROUP_FLAGS_VIABLE 0x1
    #define VFIO_GROUP_FLAGS_CONTAINER_SET 0x2

    #define VFIO_DEVICE_FLAGS_RESET 0x1
    #define VFIO_DEVICE_FLAGS_PCI 0x2
    #define VFIO_DEVICE_FLAGS_CAPS 0x80

    #define VFIO_REGION_INFO_FLAG_READ 0x1
    #define VFIO_REGION_INFO_FLAG_WRITE 0x2
    #define VFIO_REGION_INFO_FLAG_MMAP 0x4
    #define VFIO_REGION_INFO_FLAG_CAPS 0x8

    #define VFIO_REGION_INFO_CAP_SPARSE_MMAP 1
    #define VFIO_REGION_INFO_CAP_TYPE 2
    #define VFIO_REGION_INFO_CAP_MSIX_MAPPABLE 3

    #define VFIO_IRQ_INFO_EVENTFD 0x1
    #define VFIO_IRQ_INFO_MASKABLE 0x2
    #define VFIO_IRQ_INFO_AUTOMASKED 0x4
    #define VFIO_IRQ_INFO_NORESIZE 0x8

    #define VFIO_IRQ_SET_DATA_NONE 0x1
    #define VFIO_IRQ_SET_DATA_BOOL 0x2
    #define VFIO_IRQ_SET_DATA_EVENTFD 0x4
    #define VFIO_IRQ_SET_ACTION_MASK 0x8
    #define VFIO_IRQ_SET_ACTION_UNMASK 0x10
    #define VFIO_IRQ_SET_ACTION_TRIGGER 0x20

    #define VFIO_IOMMU_INFO_PGSIZES 0x1
    #define VFIO_IOMMU_INFO_CAPS 0x2

    #define VFIO_DMA_MAP_FLAG_READ 0x1
    #define VFIO_DMA_MAP_FLAG_WRITE 0x2

    #define VFIO_GET_API_VERSION 0x3B64
    #define VFIO_CHECK_EXTENSION 0x3B65
    #define VFIO_SET_IOMMU 0x3B66
    #define VFIO_GROUP_GET_STATUS 0x3B67
    #define VFIO_GROUP_SET_CONTAINER 0x3B68
    #define VFIO_GROUP_UNSET_CONTAINER 0x3B69
    #define VFIO_GROUP_GET_DEVICE_FD 0x3B6A
    #define VFIO_DEVICE_GET_INFO 0x3B6B
    #define VFIO_DEVICE_GET_REGION_INFO 0x3B6C
    #define VFIO_DEVICE_GET_IRQ_INFO 0x3B6D
    #define VFIO_DEVICE_SET_IRQS 0x3B6E
    #define VFIO_DEVICE_RESET 0x3B6F
    #define VFIO_IOMMU_GET_INFO 0x3B70
    #define VFIO_IOMMU_MAP_DMA 0x3B71
    #define VFIO_IOMMU_UNMAP_DMA 0x3B72

    int ioctl(int fd, unsigned long request, ...);
    """
)

lib: Any = ffi.dlopen(None)
"""libc (cffi's `dlopen(None)` on Linux) carrying `ioctl` and the constants above."""

IOCTL_NAMES: dict[int, str] = {
    lib.VFIO_GET_API_VERSION: "VFIO_GET_API_VERSION",
    lib.VFIO_CHECK_EXTENSION: "VFIO_CHECK_EXTENSION",
    lib.VFIO_SET_IOMMU: "VFIO_SET_IOMMU",
    lib.VFIO_GROUP_GET_STATUS: "VFIO_GROUP_GET_STATUS",
    lib.VFIO_GROUP_SET_CONTAINER: "VFIO_GROUP_SET_CONTAINER",
    lib.VFIO_GROUP_UNSET_CONTAINER: "VFIO_GROUP_UNSET_CONTAINER",
    lib.VFIO_GROUP_GET_DEVICE_FD: "VFIO_GROUP_GET_DEVICE_FD",
    lib.VFIO_DEVICE_GET_INFO: "VFIO_DEVICE_GET_INFO",
    lib.VFIO_DEVICE_GET_REGION_INFO: "VFIO_DEVICE_GET_REGION_INFO",
    lib.VFIO_DEVICE_GET_IRQ_INFO: "VFIO_DEVICE_GET_IRQ_INFO",
    lib.VFIO_DEVICE_SET_IRQS: "VFIO_DEVICE_SET_IRQS",
    lib.VFIO_DEVICE_RESET: "VFIO_DEVICE_RESET",
    lib.VFIO_IOMMU_GET_INFO: "VFIO_IOMMU_GET_INFO",
    lib.VFIO_IOMMU_MAP_DMA: "VFIO_IOMMU_MAP_DMA",
    lib.VFIO_IOMMU_UNMAP_DMA: "VFIO_IOMMU_UNMAP_DMA",
}
"""Names for error messages; 0x3B70-0x3B72 are named for their container meaning."""
