"""A NIC that could cut the machine off is never taken from its driver (issue: NIC safety)."""

from __future__ import annotations

import pytest

from hil.lab.transport.protocol import AgentError
from hil.plugin.fixtures import reach
from hil.plugin.session import LabSession

pytestmark = [pytest.mark.hil, pytest.mark.virtlab]


@pytest.mark.hil_device(profiles=["igb", "e1000e"])
def test_nic_with_default_route_is_refused_and_one_without_is_restored(
    lab: LabSession, hil_pair: tuple[str, str]
) -> None:
    machine = reach(lab, hil_pair[0])
    ref = machine.machine.device(hil_pair[1])
    spec = machine.machine.virtual
    pci_id = next(d.pci_id for d in spec.devices if d.name == ref.name) if spec else ref.pci_id
    bdf = machine.client.resolve_device(ref.bdf, pci_id, ref.instance or 0)
    call = machine.client.transport.call
    native = call("current_driver", {"bdf": bdf})
    if native is None:
        pytest.skip(f"{ref.name} has no native driver on {machine.name}: no interface to protect")
    driver = lab.profile(ref).driver
    assert driver is not None
    lease = lab.lease(f"device:{machine.name}/{ref.name}")
    try:
        link = {"bdf": bdf, "up": True, "address": "192.0.2.10/24", "default_route": True}
        call("set_test_link", link)
        with pytest.raises(AgentError, match="default route"):
            machine.client.attach_device(ref.name, bdf, driver)
        assert call("current_driver", {"bdf": bdf}) == native, "a refused device must stay bound"

        call("set_test_link", {"bdf": bdf, "up": True, "address": None, "default_route": False})
        with pytest.raises(AgentError, match="expendable"):
            machine.client.attach_device(ref.name, bdf, driver)
        machine.client.attach_device(ref.name, bdf, driver, expendable=True)
        assert call("current_driver", {"bdf": bdf}) == "vfio-pci"
        machine.client.detach_device(ref.name)
        assert call("current_driver", {"bdf": bdf}) == native
        assert call("link_is_up", {"bdf": bdf}) is True, "the link must come back up"
    finally:
        call("set_test_link", {"bdf": bdf, "up": False, "address": None, "default_route": False})
        lab.release(lease)
