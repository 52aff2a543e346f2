"""TON address checks the CRD's CEL cannot do (checksum, workchain)."""

from pytoniq_core.boc.address import Address, AddressError


def address_problem(text: str) -> str | None:
    """None when `text` is a valid TON address, else a short reason (never raises)."""
    try:
        address = Address(text)
    except (AddressError, ValueError, TypeError) as exc:
        return f"{text!r} is not a valid TON address ({exc})"
    if address.wc not in (0, -1):
        return f"{text!r} is on workchain {address.wc}; COCOON uses the basechain (0)"
    return None
