"""What the cluster tiers that run CocoonNodes against the dev COCOON network share (the rewards e2e
stack, the security stack): the cluster, the local chain with the network deployed on it, owner
wallets by name, and a spec that network accepts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cocoon_dev.ton.background import BackgroundChain
from cocoon_dev.ton.dev_wallets import DevWallet, deploy_wallet, dev_wallet
from cocoon_dev.ton.network import DEV_IMAGE_HASH, CocoonNetwork
from cocoon_operator.ton.addresses import format_address


@dataclass(kw_only=True)
class DevNetworkStack:
    cluster: Any
    bg: BackgroundChain
    network: CocoonNetwork
    owners: dict[str, DevWallet] = field(default_factory=dict)
    # What a new owner's wallet is deployed with on the chain; 0: never deployed (an owner that only
    # receives needs no account).
    owner_funds_nano: ClassVar[int] = 0

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        return self.cluster.kubectl(*args, input=input, check=check)

    def owner(self, name: str) -> DevWallet:
        """The owner wallet called `name`, made on first use."""
        if name not in self.owners:
            wallet = dev_wallet(uuid.uuid4().bytes, f"owner:{name}")
            if self.owner_funds_nano:
                self.bg.call(deploy_wallet, self.bg.chain, wallet, self.owner_funds_nano)
            self.owners[name] = wallet
        return self.owners[name]

    def node_spec(
        self, name: str, worker_image: str, *, owner: str | None = None, **overrides: Any
    ) -> dict[str, Any]:
        """A spec the dev network accepts (test mode, its model and image hash) for the CocoonNode
        `name`: its wallet in the Secret `<name>-wallet`, funded from the Secret `treasury`, paying
        the owner wallet `owner` (default: one of the node's own)."""
        spec: dict[str, Any] = {
            "model": self.network.model,
            "ownerAddress": format_address(self.owner(owner or name).addr, bounceable=False),
            "network": {
                "globalConfigRef": {"name": "ton-global-config"},
                "rootContractAddress": format_address(self.network.root_addr),
            },
            "wallet": {"secretRef": {"name": f"{name}-wallet"}},
            "funding": {"treasurySecretRef": {"name": "treasury"}},
            "worker": {"image": worker_image, "mode": "Test"},
            "imageHash": DEV_IMAGE_HASH.hex(),
            "placement": {"tee": "Any"},
        }
        spec.update(overrides)
        return spec
