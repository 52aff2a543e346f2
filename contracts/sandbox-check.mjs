// Cross-check of the official contracts (committed code cells) on @ton/sandbox (newest emulator, global version 12), in
// addition to the pytvm 2024-08 emulator the local chain uses. Not a test: run by hand after changes.
//   node sandbox-check.mjs   -> prints one line per check, exits 1 on the first failure
import { Blockchain } from "@ton/sandbox";
import { beginCell, Cell, contractAddress, toNano } from "@ton/core";
import { keyPairFromSeed, sign } from "@ton/crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const OFFICIAL = join(HERE, "..", "operator", "cocoon_operator", "data", "official");
const code = (name) => Cell.fromBase64(readFileSync(join(OFFICIAL, `${name}.code.boc.b64`), "utf8").trim());

function check(ok, what) {
  process.stdout.write(`${ok ? "ok  " : "FAIL"} ${what}\n`);
  if (!ok) process.exit(1);
}

function params(withCode = true) {
  return beginCell()
    .storeUint(3, 8).storeUint(0, 32).storeUint(17, 32).storeUint(1, 1)
    .storeCoins(2).storeCoins(1)
    .storeUint(10000, 32).storeUint(10000, 32).storeUint(10000, 32).storeUint(10000, 32)
    .storeUint(86400, 32).storeUint(86400, 32)
    .storeCoins(toNano("1")).storeCoins(toNano("1"))
    .storeMaybeRef(withCode ? code("cocoon_proxy") : null)
    .storeMaybeRef(withCode ? code("cocoon_worker") : null)
    .storeMaybeRef(null)
    .endCell();
}

const chain = await Blockchain.create();
const owner = await chain.treasury("owner");
const stranger = await chain.treasury("stranger");

// --- root: owner op, getter, non-owner refusal
const rootData = beginCell()
  .storeAddress(owner.address).storeUint(0, 32)
  .storeRef(beginCell().storeDict(null).storeDict(null).storeUint(0, 32).storeDict(null).storeDict(null).endCell())
  .storeRef(params())
  .endCell();
const rootInit = { code: code("cocoon_root"), data: rootData };
const root = contractAddress(0, rootInit);
await owner.send({ to: root, value: toNano("1"), init: rootInit, bounce: false });
const hash = 0x1234n;
const addWorker = beginCell().storeUint(0xe34b1c60, 32).storeUint(7, 64).storeUint(hash, 256).endCell();
let res = await owner.send({ to: root, value: toNano("0.1"), body: addWorker });
check(res.transactions.some((t) => t.description.computePhase?.exitCode === 0), "root add_worker_type");
let get = await chain.runGetMethod(root, "worker_hash_is_valid", [{ type: "int", value: hash }]);
check(get.stackReader.readBigNumber() === -1n, "root worker_hash_is_valid -> -1");
get = await chain.runGetMethod(root, "get_cur_params", []);
check(get.stackReader.readBigNumber() === 0n, "root get_cur_params");
res = await stranger.send({ to: root, value: toNano("0.1"), body: addWorker });
check(res.transactions.some((t) => t.description.computePhase?.exitCode === 1010), "root non-owner -> 1010");

// --- cocoon wallet: external with the 2-TON floor, seqno
const kp = keyPairFromSeed(Buffer.alloc(32, 5));
const walletData = beginCell()
  .storeUint(0, 32).storeUint(0, 32).storeBuffer(kp.publicKey).storeUint(0, 32).storeAddress(owner.address)
  .endCell();
const walletInit = { code: code("cocoon_wallet"), data: walletData };
const wallet = contractAddress(0, walletInit);
await owner.send({ to: wallet, value: toNano("1.9"), bounce: false });
function external(seqno, validUntil) {
  const msg = beginCell()
    .storeUint(0x10, 6).storeAddress(owner.address).storeCoins(toNano("0.01"))
    .storeUint(0, 1 + 4 + 4 + 64 + 32 + 1 + 1)
    .endCell();
  const payload = beginCell().storeUint(0, 32).storeUint(validUntil, 32).storeUint(seqno, 32).storeUint(1, 8)
    .storeRef(msg).endCell();
  return beginCell().storeBuffer(sign(payload.hash(), kp.secretKey)).storeSlice(payload.beginParse()).endCell();
}
const now = Math.floor(Date.now() / 1000);
let refusal = "";
try {
  await chain.sendMessage({ info: { type: "external-in", dest: wallet, importFee: 0n }, init: walletInit, body: external(0, now + 3600) });
} catch (e) {
  refusal = String(e.message ?? e);
}
check(/1035/.test(refusal), `cocoon wallet below 2 TON refuses the external (1035): ${refusal.slice(0, 120)}`);
await owner.send({ to: wallet, value: toNano("1"), bounce: false });
await chain.sendMessage({ info: { type: "external-in", dest: wallet, importFee: 0n }, init: walletInit, body: external(0, now + 3600) });
get = await chain.runGetMethod(wallet, "seqno", []);
check(get.stackReader.readNumber() === 1, "cocoon wallet external accepted, seqno 1");

// --- worker contract: deploy and getter on the newest TVM
const workerData = beginCell()
  .storeAddress(owner.address).storeAddress(stranger.address).storeBuffer(kp.publicKey)
  .storeUint(0, 2).storeUint(0, 64)
  .storeRef(params(false))
  .endCell();
const workerInit = { code: code("cocoon_worker"), data: workerData };
const worker = contractAddress(0, workerInit);
await owner.send({ to: worker, value: toNano("0.3"), init: workerInit, bounce: false });
get = await chain.runGetMethod(worker, "get_cocoon_worker_data", []);
check(get.stackReader.readAddress().equals(owner.address), "worker get_cocoon_worker_data owner");
res = await stranger.send({ to: worker, value: toNano("0.5"), body: beginCell().storeUint(0x26ed7f65, 32).storeUint(1, 64).storeAddress(stranger.address).endCell() });
check(res.transactions.some((t) => t.description.computePhase?.exitCode === 1010), "worker register from non-owner -> 1010");
process.stdout.write("sandbox cross-check passed\n");
