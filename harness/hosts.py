"""Hosts of a test topology: network namespaces on a bridge of their own, or, where the
machine refuses namespaces, distinct loopback addresses.

`Hosts.create(tag)` gives either. With namespaces, each app host is a namespace with one
address on the bridge (10.213.N.2, .3, ...) and servers in it run under `ip netns exec`;
the root namespace holds the bridge's address (what the proxy connects from, and where
services for the hosts listen) and a second address for a client that is not the proxy.
Everything made is removed by `close()`, also after a failure half-way.
"""

import os
import subprocess
import sys

from harness import HarnessError


def _ip(*arguments: str) -> None:
    done = subprocess.run(
        ["ip", *arguments], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise HarnessError(f"ip {' '.join(arguments)}: {done.stderr.strip()}")


class Hosts:
    """Addresses for app hosts, the gateway the proxy uses, and an outside client."""

    isolated = False

    def __init__(self) -> None:
        self.addresses: list[str] = []

    @classmethod
    def create(cls, tag: str, count: int) -> "Hosts":
        """Namespaced hosts if the machine allows them, else loopback addresses."""
        try:
            return Namespaces(tag, count)
        except (HarnessError, OSError) as refused:
            print(f"network namespaces refused ({refused}): loopback addresses", file=sys.stderr)
            return Loopback(count)

    @property
    def gateway(self) -> str:
        """The address the proxy reaches the hosts from, and services listen on for them."""
        raise NotImplementedError

    @property
    def outsider(self) -> str:
        """A client address that is neither a host nor the proxy."""
        raise NotImplementedError

    def launcher(self, address: str) -> list[str]:
        """The command prefix that runs a program on the host with this address."""
        return []

    def close(self) -> None:
        pass


class Loopback(Hosts):
    """127.0.0.2, 127.0.0.3, ...: one network stack, told apart by address."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.addresses = [f"127.0.0.{2 + index}" for index in range(count)]

    @property
    def gateway(self) -> str:
        return "127.0.0.1"

    @property
    def outsider(self) -> str:
        return "127.0.0.9"


class Namespaces(Hosts):
    """One network namespace per host, each with a veth on a bridge in the root namespace."""

    isolated = True

    def __init__(self, tag: str, count: int) -> None:
        super().__init__()
        # Interface names hold 15 characters; the subnet differs between concurrent runs.
        self.prefix = f"t{tag}{os.getpid() % 100000}"
        subnet = 10 + os.getpid() % 240
        self.network = f"10.213.{subnet}"
        self.bridge = f"{self.prefix}b"
        self.namespaces: list[str] = []
        self.namespaces_made: list[str] = []  # kept after close(), to check they are gone
        self._made_bridge = False
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self._made_bridge = True
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("addr", "add", f"{self.outsider}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for index in range(count):
                self._add_host(index)
        except BaseException:
            self.close()
            raise

    def _add_host(self, index: int) -> None:
        namespace, address = f"{self.prefix}n{index}", f"{self.network}.{2 + index}"
        outside, inside = f"{self.prefix}v{index}", f"{self.prefix}p{index}"
        _ip("netns", "add", namespace)
        self.namespaces.append(namespace)
        self.namespaces_made.append(namespace)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("link", "set", outside, "master", self.bridge, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
        _ip("-n", namespace, "link", "set", inside, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        self.addresses.append(address)

    @property
    def gateway(self) -> str:
        return f"{self.network}.1"

    @property
    def outsider(self) -> str:
        return f"{self.network}.9"

    def launcher(self, address: str) -> list[str]:
        namespace = self.namespaces[self.addresses.index(address)]
        return ["ip", "netns", "exec", namespace]

    def close(self) -> None:
        """Delete the namespaces (their veths go with them) and the bridge."""
        for namespace in self.namespaces:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        self.namespaces = []
        if self._made_bridge:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
            self._made_bridge = False
