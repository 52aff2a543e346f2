"""Address parsing with checksums, and the COCOON address derivations (§7.2, §9.2, §10.1)."""

from __future__ import annotations

import base64

import pytest
from pytoniq_core.boc.address import Address
from pytoniq_core.tlb.account import StateInit

from cocoon_operator.ton.addresses import (
    cocoon_wallet_address,
    cocoon_wallet_data,
    format_address,
    parse_address,
    parse_address_details,
    proxy_contract_address,
    proxy_contract_data,
    public_key_from_seed,
    raw_address,
    state_init_cell,
    worker_contract_address,
    worker_contract_data,
)
from cocoon_operator.ton.codes import cocoon_proxy_code, cocoon_wallet_code, cocoon_worker_code
from cocoon_operator.ton.storage import Params

# A public mainnet address (pytoniq's docs use it) in its three text forms.
FRIENDLY = "EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N"
RAW = "0:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8"
NON_BOUNCEABLE = "UQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqEBI"

OWNER = Address((0, bytes([1]) * 32))
KEY = public_key_from_seed(bytes(range(32)))


def test_known_address_forms() -> None:
    parsed = parse_address_details(FRIENDLY)
    assert parsed.raw == RAW and parsed.bounceable is True and parsed.testnet is False
    assert parse_address(RAW) == parsed.address
    assert parse_address(RAW.upper().replace("0X", "0x")) == parsed.address
    details = parse_address_details(NON_BOUNCEABLE)
    assert details.bounceable is False and details.address == parsed.address
    assert format_address(parsed.address) == FRIENDLY
    assert format_address(parsed.address, bounceable=False) == NON_BOUNCEABLE
    testnet = format_address(parsed.address, testnet=True)
    assert parse_address_details(testnet).testnet is True
    # the standard (non-url-safe) alphabet is accepted too
    std = base64.b64encode(base64.urlsafe_b64decode(FRIENDLY)).decode()
    assert parse_address(std) == parsed.address
    assert raw_address(parsed.address) == RAW


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (FRIENDLY[:-1] + ("O" if FRIENDLY[-1] != "O" else "P"), "checksum mismatch"),
        (FRIENDLY[:-2], "48 characters"),
        ("!" * 48, "not valid base64"),
        ("", "empty address"),
        ("0:1234", "not a raw address"),
        ("1:" + "00" * 32, "workchain 1, expected 0"),
        ("-1:" + "ab" * 32, "workchain -1, expected 0"),
        ("0:" + "zz" * 32, "not a raw address"),
        (base64.urlsafe_b64encode(b"\x22" + bytes(33) + b"\x00\x00").decode(), "checksum"),
    ],
)
def test_bad_addresses_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as exc:
        parse_address(text, field="spec.ownerAddress")
    assert str(exc.value).startswith("spec.ownerAddress: ")


def test_unknown_tag_with_valid_checksum() -> None:
    from pytoniq_core.crypto.crc import crc16

    data = b"\x22\x00" + bytes(32)
    text = base64.urlsafe_b64encode(data + crc16(data)).decode()
    with pytest.raises(ValueError, match="unknown address tag"):
        parse_address(text)


def test_masterchain_allowed_when_asked() -> None:
    assert parse_address("-1:" + "ab" * 32, workchain=None).wc == -1


def test_cocoon_wallet_address_is_the_state_init_hash() -> None:
    data = cocoon_wallet_data(KEY, OWNER)
    expected = StateInit(code=cocoon_wallet_code(), data=data).serialize().hash
    address = cocoon_wallet_address(KEY, OWNER)
    assert address == Address((0, expected))
    assert state_init_cell(cocoon_wallet_code(), data).hash == expected
    assert cocoon_wallet_address(KEY, Address((0, bytes([2]) * 32))) != address
    assert cocoon_wallet_address(public_key_from_seed(bytes(32)), OWNER) != address
    with pytest.raises(ValueError, match="32 bytes"):
        cocoon_wallet_address(b"short", OWNER)


def test_worker_and_proxy_addresses() -> None:
    params = Params(proxy_sc_code=cocoon_proxy_code(), worker_sc_code=cocoon_worker_code())
    proxy = proxy_contract_address(OWNER, KEY, OWNER, params)
    data = proxy_contract_data(OWNER, KEY, OWNER, params)
    assert proxy == Address((0, StateInit(code=cocoon_proxy_code(), data=data).serialize().hash))
    worker = worker_contract_address(OWNER, proxy, KEY, params)
    wdata = worker_contract_data(OWNER, proxy, KEY, params)
    assert worker == Address((0, StateInit(code=cocoon_worker_code(), data=wdata).serialize().hash))
    # a params_version rollover moves both
    bumped = Params(params_version=1, proxy_sc_code=cocoon_proxy_code(), worker_sc_code=cocoon_worker_code())
    assert proxy_contract_address(OWNER, KEY, OWNER, bumped) != proxy
    assert worker_contract_address(OWNER, proxy, KEY, bumped) != worker
    # explicit (e.g. mainnet) code changes the address
    assert worker_contract_address(OWNER, proxy, KEY, params, worker_code=cocoon_proxy_code()) != worker
