# Devices of the sanitizer build (./configure --sanitizers): what the NVMe
# qtests use, the pc machine and its defaults, and no more, so that a cold
# ASan+UBSan build fits in CI's time.
CONFIG_I440FX=y
CONFIG_NVME_PCI=y
CONFIG_E1000_PCI=y
CONFIG_VGA_PCI=y
