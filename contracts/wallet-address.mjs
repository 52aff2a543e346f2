// The cocoon wallet address the official runner derives for a key and an owner, computed with
// @ton/core from the wallet code compiled out of the reference sources (an implementation independent
// of the operator's Python): StateInit{code, data = seqno 0, subwallet 0, public key, status 0, owner},
// workchain 0 (CocoonWallet::init_data_cell in the official runner).
//   node wallet-address.mjs --reference DIR --public-key HEX --owner ADDRESS   -> prints 0:<hex>
import { compileFunc } from "@ton-community/func-js";
import { Address, beginCell, Cell, contractAddress } from "@ton/core";
import { readFileSync } from "node:fs";
import { join } from "node:path";

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0) throw new Error(`missing ${name}`);
  return process.argv[i + 1];
}

const src = join(arg("--reference"), "contracts");
const result = await compileFunc({
  targets: ["cocoon_wallet.fc"],
  sources: (path) => readFileSync(join(src, path), "utf8"),
});
if (result.status !== "ok") throw new Error(result.message);
const code = Cell.fromBase64(result.codeBoc);
const data = beginCell()
  .storeUint(0, 32)
  .storeUint(0, 32)
  .storeBuffer(Buffer.from(arg("--public-key"), "hex"), 32)
  .storeUint(0, 32)
  .storeAddress(Address.parse(arg("--owner")))
  .endCell();
process.stdout.write(contractAddress(0, { code, data }).toRawString() + "\n");
