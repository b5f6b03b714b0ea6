"""Giving a lab NIC the state the safety check must react to, for the safety tests.

The virtual lab's NICs have no network behind them (`-net none`); these
helpers only set link state, a documentation-range address (RFC 5737
192.0.2.0/24) and a default route through it, so the refusal logic can be
proven on a real kernel.  Nothing is ever sent.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

TEST_NET = ipaddress.ip_network("192.0.2.0/24")


class TestLinkError(RuntimeError):
    pass


def device_netdev(root: Path, bdf: str) -> str:
    names = sorted(p.name for p in (root / "sys/bus/pci/devices" / bdf / "net").glob("*"))
    if not names:
        raise TestLinkError(f"{bdf} has no network interface")
    return names[0]


def set_test_link(root: Path, bdf: str, up: bool, address: str | None, default_route: bool) -> str:
    """Configure the device's first interface; returns its name."""
    from pyroute2 import IPRoute  # only the NIC safety tests need netlink

    name = device_netdev(root, bdf)
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=name)[0]
        ipr.flush_addr(index=index)
        if address is not None:
            iface = ipaddress.ip_interface(address)
            if iface.network != TEST_NET:
                raise TestLinkError(f"{address}: only {TEST_NET} (documentation range) is allowed")
            ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        ipr.link("set", index=index, state="up" if up else "down")
        if default_route:
            ipr.route("replace", dst="0.0.0.0/0", gateway=str(TEST_NET[1]), oif=index)
    return name


def link_is_up(root: Path, bdf: str) -> bool:
    from pyroute2 import IPRoute  # only the NIC safety tests need netlink

    name = device_netdev(root, bdf)
    with IPRoute() as ipr:
        link = ipr.get_links(ifname=name)[0]
        return bool(link["flags"] & 1)
