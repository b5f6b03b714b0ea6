"""The PCI IMS API path: used only where a machine's kernel has it (6.2-6.9).

No kernel of the default virtual lab has the API (it was reverted in 6.10
and Debian ships 6.1 and 6.12), and vfio never had an IMS interface, so on
those machines this test skips and says which of the two is missing.  A lab
host running a 6.2-6.9 kernel with an IMS-using driver loaded is where it runs.
"""

from __future__ import annotations

import pytest

from hil.model.kernel import KernelRules
from hil.model.vocabulary import IrType
from hil.plugin.fixtures import reach
from hil.plugin.session import LabSession

pytestmark = [pytest.mark.hil]


@pytest.mark.hil_device(classes=["dma", "ntb"])
def test_ims_vectors_follow_the_seed_policy(lab: LabSession, hil_pair: tuple[str, str]) -> None:
    machine = reach(lab, hil_pair[0])
    rules = KernelRules.for_version(machine.facts["kernel"])
    why = rules.ims_unavailable_reason(
        machine.ir is not IrType.NONE, bool(machine.facts.get("caching_mode"))
    )
    if why is not None:
        pytest.skip(f"{machine.name}: {why}")
    pytest.skip(
        f"{machine.name}: kernel {machine.facts['kernel']} has the PCI IMS API, but vfio has no "
        "IMS interface and no upstream driver ever used the API: nothing can allocate IMS "
        "vectors on it from user space"
    )
