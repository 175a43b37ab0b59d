# Devices of the build on the second base (scripts/base.conf): what the
# NVMe qtests use and no more, as in nvme-sanitizers.mak.  QEMU 10.2.2
# misses two Kconfig dependencies in so small a build (fixed upstream
# later): NVMe's SPDM socket and the CXL host code that x86's ACPI tables
# call (CXL needs PCI Express, its ports, the PCI expander bridge and the
# memory device).
CONFIG_I440FX=y
CONFIG_NVME_PCI=y
CONFIG_E1000_PCI=y
CONFIG_VGA_PCI=y
CONFIG_SPDM_SOCKET=y
CONFIG_PCI_EXPRESS=y
CONFIG_PXB=y
CONFIG_PCIE_PORT=y
CONFIG_CXL=y
CONFIG_CXL_MEM_DEVICE=y
