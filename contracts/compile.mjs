// Builds the official COCOON contracts from the reference sources with the pinned FunC compiler and
// compares (or writes) the compiled code cells the project commits as protocol artifacts.
//
//   node compile.mjs --check [--reference DIR]   compile in memory, compare bit for bit with the
//                                                committed BoCs, print a JSON report; exit 1 on a
//                                                difference, 3 when the reference is not there
//   node compile.mjs --write [--reference DIR]   (re)write the committed BoCs and provenance.json
//
// DIR defaults to $COCOON_REFERENCE_DIR/cocoon-contracts, else the first `shared/reference` found
// next to the repository or one of its parents. The sources are only read, never copied: the project
// ships the compiled cells (operator/cocoon_operator/data/official/) with the upstream LICENSE and
// NOTICE; the operator and the dev chain never need Node or the reference at run time.
import { compileFunc, compilerVersion } from "@ton-community/func-js";
import { Cell } from "@ton/core";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..");
const ARTIFACTS = join(REPO, "operator", "cocoon_operator", "data", "official");
const PROVENANCE = join(ARTIFACTS, "provenance.json");

export const CONTRACTS = ["cocoon_root", "cocoon_proxy", "cocoon_worker", "cocoon_wallet", "cocoon_client"];

function argValue(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function findReference() {
  const explicit = argValue("--reference");
  if (explicit) return { dir: resolve(explicit), looked: [resolve(explicit)] };
  const looked = [];
  if (process.env.COCOON_REFERENCE_DIR) {
    const dir = join(resolve(process.env.COCOON_REFERENCE_DIR), "cocoon-contracts");
    looked.push(dir);
    if (existsSync(join(dir, "contracts"))) return { dir, looked };
  }
  for (let d = REPO; ; d = dirname(d)) {
    const dir = join(dirname(d), "shared", "reference", "cocoon-contracts");
    looked.push(dir);
    if (existsSync(join(dir, "contracts"))) return { dir, looked };
    if (dirname(d) === d) return { dir: null, looked };
  }
}

function pkgVersion(name) {
  return JSON.parse(readFileSync(join(HERE, "node_modules", name, "package.json"), "utf8")).version;
}

async function compileOne(srcDir, name) {
  const result = await compileFunc({
    targets: [`${name}.fc`],
    sources: (path) => readFileSync(join(srcDir, path), "utf8"),
  });
  if (result.status !== "ok") throw new Error(`${name}: compilation failed:\n${result.message}`);
  // Digest of every source file the compiler read (sorted), so a changed reference shows without Node.
  const files = [...result.snapshot].sort((a, b) => a.filename.localeCompare(b.filename));
  const digest = createHash("sha256");
  for (const f of files) digest.update(f.filename + "\0" + f.content + "\0");
  return {
    name,
    codeBoc: result.codeBoc,
    codeHash: Cell.fromBase64(result.codeBoc).hash().toString("hex"),
    sources: files.map((f) => `contracts/${f.filename}`),
    sourcesSha256: digest.digest("hex"),
  };
}

function committedBoc(name) {
  const path = join(ARTIFACTS, `${name}.code.boc.b64`);
  return existsSync(path) ? readFileSync(path, "utf8").trim() : null;
}

async function main() {
  const check = process.argv.includes("--check");
  if (!check && !process.argv.includes("--write")) {
    process.stderr.write("usage: node compile.mjs --check|--write [--reference DIR]\n");
    process.exit(2);
  }
  const { dir, looked } = findReference();
  if (dir === null) {
    process.stdout.write(JSON.stringify({ reference: null, looked }) + "\n");
    process.exit(3);
  }
  const srcDir = join(dir, "contracts");
  const funcVersion = (await compilerVersion()).funcVersion;
  const results = [];
  for (const name of CONTRACTS) results.push(await compileOne(srcDir, name));

  if (check) {
    const provenance = existsSync(PROVENANCE) ? JSON.parse(readFileSync(PROVENANCE, "utf8")) : { contracts: {} };
    const report = {};
    const differ = [];
    for (const r of results) {
      const committed = committedBoc(r.name);
      // Bit for bit: the same code cell tree (hash) serialised to the same BoC bytes.
      const sameBoc = committed !== null && Buffer.from(committed, "base64").equals(Buffer.from(r.codeBoc, "base64"));
      const entry = provenance.contracts[r.name] ?? {};
      const ok = sameBoc && entry.code_hash === r.codeHash && entry.sources_sha256 === r.sourcesSha256;
      report[r.name] = { compiled: r.codeHash, recorded: entry.code_hash ?? null, same_boc: sameBoc, ok };
      if (!ok) differ.push(r.name);
    }
    process.stdout.write(JSON.stringify({ reference: dir, func_version: funcVersion, differ, contracts: report }) + "\n");
    process.exit(differ.length ? 1 : 0);
  }

  const provenance = {
    what: "Compiled code cells of the official COCOON contracts (protocol artifacts; see docs/contracts.md)",
    source: {
      repository: "1IxI1/cocoon-contracts (public copy of TelegramMessenger/cocoon-contracts)",
      commit: "9f71257",
      path: "contracts/",
      license: "Apache-2.0, Copyright 2025 Telegram FZ-LLC (LICENSE and NOTICE beside this file)",
    },
    compiler: {
      name: "func",
      version: funcVersion,
      package: "@ton-community/func-js",
      package_version: pkgVersion("@ton-community/func-js"),
      bin_package_version: pkgVersion("@ton-community/func-js-bin"),
    },
    contracts: {},
  };
  for (const r of results) {
    writeFileSync(join(ARTIFACTS, `${r.name}.code.boc.b64`), r.codeBoc + "\n");
    provenance.contracts[r.name] = {
      boc: `${r.name}.code.boc.b64`,
      code_hash: r.codeHash,
      sources: r.sources,
      sources_sha256: r.sourcesSha256,
    };
    process.stdout.write(`${r.name}: ${r.codeHash}\n`);
  }
  writeFileSync(PROVENANCE, JSON.stringify(provenance, null, 2) + "\n");
}

main().catch((e) => {
  process.stderr.write(String(e.message ?? e) + "\n");
  process.exit(2);
});
