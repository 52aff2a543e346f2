"""The real TON transaction emulator and TVM, loaded from pytvm 0.0.14's bundled `libemulator`.

pytvm's own wrapper has two defects (see shared docs, ton-devnet.md §3.2), so we bind the C API
ourselves:

1. `EmulatorEngineC.default()` imports `pkg_resources` (gone from setuptools >= 81): we load the
   `.so` by path instead.
2. Several ctypes widths are 32-bit where the C API takes 64-bit values (lt, c7 balance, internal
   message amount, gas limit), which silently truncates balances above ~4.29 TON: we declare every
   signature here with the widths of `emulator-extern.h`.

Everything is passed as base64 BoC strings, exactly as the C API expects, so callers can cache
encoded BoCs (the 150 KB blockchain config above all) instead of re-serialising cells.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The mainnet blockchain config exported from @ton/sandbox 0.41.0 (`defaultConfig`, global version 12,
# global id -239). Committed so fees and limits are mainnet's; see docs/local-chain.md.
MAINNET_CONFIG_PATH = (
    Path(__file__).resolve().parents[3] / "contracts" / "fixtures" / "mainnet-config.boc.b64"
)

DEFAULT_GAS_LIMIT = 1_000_000  # get-methods: a liteserver allows about this much


class EmulatorError(RuntimeError):
    """The emulator library failed outside a transaction's own logic (bad BoC, bad config...)."""


_vp, _cp, _u32, _u64, _i64, _int, _bool = (
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.c_uint32,
    ctypes.c_uint64,
    ctypes.c_int64,
    ctypes.c_int,
    ctypes.c_bool,
)

# name -> (restype, argtypes), from ton-blockchain/ton emulator/emulator-extern.h
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "emulator_version": (_cp, []),
    "emulator_set_verbosity_level": (_bool, [_int]),
    "transaction_emulator_create": (_vp, [_cp, _int]),
    "transaction_emulator_set_unixtime": (_bool, [_vp, _u32]),
    "transaction_emulator_set_lt": (_bool, [_vp, _u64]),
    "transaction_emulator_set_rand_seed": (_bool, [_vp, _cp]),
    "transaction_emulator_set_ignore_chksig": (_bool, [_vp, _bool]),
    "transaction_emulator_set_config": (_bool, [_vp, _cp]),
    "transaction_emulator_set_libs": (_bool, [_vp, _cp]),
    "transaction_emulator_set_debug_enabled": (_bool, [_vp, _bool]),
    "transaction_emulator_emulate_transaction": (_cp, [_vp, _cp, _cp]),
    "transaction_emulator_destroy": (None, [_vp]),
    "tvm_emulator_create": (_vp, [_cp, _cp, _int]),
    "tvm_emulator_set_libraries": (_bool, [_vp, _cp]),
    "tvm_emulator_set_c7": (_bool, [_vp, _cp, _u32, _u64, _cp, _cp]),
    "tvm_emulator_set_gas_limit": (_bool, [_vp, _i64]),
    "tvm_emulator_set_debug_enabled": (_bool, [_vp, _bool]),
    "tvm_emulator_run_get_method": (_cp, [_vp, _int, _cp]),
    "tvm_emulator_destroy": (None, [_vp]),
    "emulator_config_create": (_vp, [_cp]),
    "tvm_emulator_set_config_object": (_bool, [_vp, _vp]),
}

_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()
# Parsed blockchain configs (emulator_config_create), by the sha256 of their base64 BoC. Parsing the
# 115 KB config is most of a get-method's cost, so each config is parsed once per process and kept.
# The library's tvm_emulator_set_config_object wraps it with a no-op deleter, so it stays valid.
_configs: dict[bytes, int] = {}


def library_path() -> Path:
    """Path of the `libemulator` shared object shipped in the pytvm wheel (no import of pytvm's wrapper)."""
    import pytvm.engine  # the package only; its `.default()` is what we must avoid

    return Path(os.path.dirname(pytvm.engine.__file__)) / "libemulator-linux-x86_64.so"


def load_library() -> ctypes.CDLL:
    """Load libemulator once per process, with correct ctypes signatures."""
    global _lib
    with _lib_lock:
        if _lib is None:
            lib = ctypes.CDLL(str(library_path()))
            for name, (restype, argtypes) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.restype = restype
                fn.argtypes = argtypes
            lib.emulator_set_verbosity_level(0)
            _lib = lib
            log.info("libemulator loaded: %s", emulator_version())
    return _lib


def emulator_version() -> dict[str, Any]:
    """`{"emulatorLibCommitHash": ..., "emulatorLibCommitDate": ...}` of the loaded library."""
    raw = load_library().emulator_version() if _lib is None else _lib.emulator_version()
    result: dict[str, Any] = json.loads(raw)
    return result


def load_mainnet_config_b64(path: Path | None = None) -> str:
    """The committed mainnet blockchain config (base64 BoC of the ConfigParams dictionary)."""
    return (path or MAINNET_CONFIG_PATH).read_text().strip()


def config_object(config_b64: str) -> int:
    """The parsed config object for `config_b64` (created once per process)."""
    key = hashlib.sha256(config_b64.encode()).digest()
    lib = load_library()
    with _lib_lock:
        ptr = _configs.get(key)
        if ptr is None:
            ptr = lib.emulator_config_create(config_b64.encode())
            if not ptr:
                raise EmulatorError("emulator_config_create failed: the blockchain config is not valid")
            _configs[key] = ptr
    return ptr


def _loads(raw: bytes | None, what: str) -> dict[str, Any]:
    if raw is None:
        raise EmulatorError(f"{what}: the emulator returned nothing")
    result: dict[str, Any] = json.loads(raw)
    return result


class TransactionEmulator:
    """A `transaction_emulator` bound to a blockchain config. Not thread-safe: callers serialise."""

    def __init__(self, config_b64: str, *, verbosity: int = 0) -> None:
        self._lib = load_library()
        self._ptr = self._lib.transaction_emulator_create(config_b64.encode(), verbosity)
        if not self._ptr:
            raise EmulatorError("transaction_emulator_create failed: the blockchain config is not valid")

    def emulate(
        self, shard_account_b64: str, message_b64: str, *, now: int, lt: int, rand_seed: bytes
    ) -> dict[str, Any]:
        """Run one transaction. Returns the emulator's JSON: on success `transaction`, `shard_account`
        (base64 BoCs) and `actions`; otherwise `success: false` with `error`, and for a refused external
        `external_not_accepted: true` plus `vm_exit_code`."""
        lib = self._lib
        if not lib.transaction_emulator_set_unixtime(self._ptr, now):
            raise EmulatorError("transaction_emulator_set_unixtime failed")
        if not lib.transaction_emulator_set_lt(self._ptr, lt):
            raise EmulatorError("transaction_emulator_set_lt failed")
        if not lib.transaction_emulator_set_rand_seed(self._ptr, rand_seed.hex().encode()):
            raise EmulatorError("transaction_emulator_set_rand_seed failed")
        raw = lib.transaction_emulator_emulate_transaction(
            self._ptr, shard_account_b64.encode(), message_b64.encode()
        )
        return _loads(raw, "emulate_transaction")

    def close(self) -> None:
        if self._ptr:
            self._lib.transaction_emulator_destroy(self._ptr)
            self._ptr = None

    def __del__(self) -> None:
        self.close()


def run_get_method(
    *,
    code_b64: str,
    data_b64: str,
    address: str,
    now: int,
    balance: int,
    method_id: int,
    stack_b64: str,
    config_b64: str,
    rand_seed: bytes,
    gas_limit: int = DEFAULT_GAS_LIMIT,
    libs_b64: str | None = None,
) -> dict[str, Any]:
    """Run a get-method on the real TVM with a full c7 (address, time, balance, seed, blockchain config).

    Returns the emulator's JSON: `success`, `vm_exit_code`, `stack` (base64 VmStack BoC), `gas_used`.
    """
    lib = load_library()
    config = config_object(config_b64)
    ptr = lib.tvm_emulator_create(code_b64.encode(), data_b64.encode(), 0)
    if not ptr:
        raise EmulatorError("tvm_emulator_create failed: bad code or data BoC")
    try:
        # c7 without a config BoC, then the pre-parsed config object (same c7, 4x faster)
        if not lib.tvm_emulator_set_c7(ptr, address.encode(), now, balance, rand_seed.hex().encode(), None):
            raise EmulatorError("tvm_emulator_set_c7 failed")
        if not lib.tvm_emulator_set_config_object(ptr, config):
            raise EmulatorError("tvm_emulator_set_config_object failed")
        if not lib.tvm_emulator_set_gas_limit(ptr, gas_limit):
            raise EmulatorError("tvm_emulator_set_gas_limit failed")
        if libs_b64 and not lib.tvm_emulator_set_libraries(ptr, libs_b64.encode()):
            raise EmulatorError("tvm_emulator_set_libraries failed")
        raw = lib.tvm_emulator_run_get_method(ptr, method_id, stack_b64.encode())
        return _loads(raw, "run_get_method")
    finally:
        lib.tvm_emulator_destroy(ptr)
