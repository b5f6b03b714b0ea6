"""Register-level doubles of the devices in hil/devices (test code only).

Each double models what the real device (the QEMU model or the kernel's view
of the hardware) does with a register write, from the sources cited in each
module, and records the interrupts the device would send.
"""
