"""pcie-hil: hardware-in-the-loop tests for PCIe interrupts against a model of the x86 design."""
