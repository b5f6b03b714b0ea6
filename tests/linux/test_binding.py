import json

import pytest

from hil.linux.binding import BindingError, BindRecord, DriverBinding

BDF = "0000:00:0a.0"


def binding(kernel, clock=None):
    ticks = iter(range(10**6))
    return DriverBinding(
        kernel.root,
        write=kernel.write,
        sleep=kernel.sleep,
        clock=clock or (lambda: next(ticks) * 0.005),
    )


def test_bind_from_native_driver_and_restore(pci_kernel):
    pci_kernel.add_device(BDF, driver="e1000e")
    pci_kernel.add_driver("vfio-pci")
    pci_kernel.lag = 3  # the kernel binds three polls after drivers_probe
    journal = []
    b = binding(pci_kernel)

    record = b.bind(BDF, "vfio-pci", timeout=5.0, before_change=journal.append)

    assert journal == [record]  # handed over before anything changed
    assert record == BindRecord(BDF, "vfio-pci", original_driver="e1000e", original_override=None)
    assert pci_kernel.driver_of(BDF) == "vfio-pci"
    assert pci_kernel.override_of(BDF) == "vfio-pci"
    assert [p for p, _ in pci_kernel.writes] == [
        f"sys/bus/pci/devices/{BDF}/driver_override",
        "sys/bus/pci/drivers/e1000e/unbind",
        "sys/bus/pci/drivers_probe",
    ]

    b.restore(record)

    assert pci_kernel.driver_of(BDF) == "e1000e"
    assert pci_kernel.override_of(BDF) == "(null)"
    assert pci_kernel.writes[3:] == [
        ("sys/bus/pci/drivers/vfio-pci/unbind", BDF),
        (f"sys/bus/pci/devices/{BDF}/driver_override", "\n"),
        ("sys/bus/pci/drivers_probe", BDF),
    ]


def test_bind_unbound_device_restores_to_no_driver_and_keeps_override(pci_kernel):
    pci_kernel.add_device(BDF, driver=None, override="something")
    pci_kernel.add_driver("vfio-pci")
    b = binding(pci_kernel)
    record = b.bind(BDF)
    assert record.original_driver is None and record.original_override == "something"
    assert pci_kernel.driver_of(BDF) == "vfio-pci"
    b.restore(record)
    assert pci_kernel.driver_of(BDF) is None
    assert pci_kernel.override_of(BDF) == "something"


def test_record_survives_a_json_journal():
    record = BindRecord(BDF, "vfio-pci", original_driver="igb", original_override=None)
    assert BindRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_record_from_journal_with_bad_bdf_is_refused():
    with pytest.raises(ValueError):
        BindRecord.from_dict({"bdf": "../x", "driver": "vfio-pci"})


def test_driver_not_loaded_fails_before_any_write(pci_kernel):
    pci_kernel.add_device(BDF, driver="e1000e")
    with pytest.raises(BindingError, match="'vfio-pci' is not loaded") as err:
        binding(pci_kernel).bind(BDF)
    assert pci_kernel.writes == []
    assert err.value.record is not None and err.value.record.original_driver == "e1000e"


def test_missing_device_is_named(pci_kernel):
    pci_kernel.add_driver("vfio-pci")
    with pytest.raises(BindingError, match="no such PCI device"):
        binding(pci_kernel).bind(BDF)


def test_kernel_that_never_binds_times_out_with_record(pci_kernel):
    pci_kernel.add_device(BDF, driver="e1000e")
    pci_kernel.add_driver("vfio-pci")
    pci_kernel.lag = 10**9
    now = [0.0]

    def clock():
        return now[0]

    def sleep(seconds):
        now[0] += seconds
        pci_kernel.sleep(seconds)

    b = DriverBinding(pci_kernel.root, write=pci_kernel.write, sleep=sleep, clock=clock)
    with pytest.raises(BindingError, match=r"no driver after 0\.5 s, expected vfio-pci") as err:
        b.bind(BDF, timeout=0.5)
    assert 0.5 <= now[0] < 0.52  # polled in short steps up to the deadline, no longer
    assert err.value.record is not None  # the caller can still restore


def test_failed_write_names_file_and_errno(pci_kernel):
    pci_kernel.add_device(BDF, driver="e1000e")
    pci_kernel.add_driver("vfio-pci")
    (pci_kernel.bus / "drivers_probe").unlink()
    (pci_kernel.bus / "drivers_probe").mkdir()  # open(O_WRONLY) on a directory: EISDIR
    with pytest.raises(BindingError, match=r"drivers_probe failed: EISDIR"):
        binding(pci_kernel).bind(BDF)


def test_bind_when_already_on_target_driver_writes_nothing(pci_kernel):
    pci_kernel.add_device(BDF, driver="vfio-pci", override="vfio-pci")
    record = binding(pci_kernel).bind(BDF)
    assert pci_kernel.writes == []
    binding(pci_kernel).restore(record)
    assert pci_kernel.driver_of(BDF) == "vfio-pci"
    assert pci_kernel.writes == [(f"sys/bus/pci/devices/{BDF}/driver_override", "vfio-pci")]
