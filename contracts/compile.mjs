// Compiles the project's FunC contracts with the pinned func-js (FunC 0.4.6).
//
//   node compile.mjs            compile, write build/<name>.code.boc.b64 and build/manifest.json
//   node compile.mjs --check    compile in memory, print a JSON report, exit 1 if any contract is stale
//
// The chain and the operator only load the committed BoCs, so Node is a build-time tool only.
import { compileFunc, compilerVersion } from "@ton-community/func-js";
import { Cell } from "@ton/core";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const SRC = join(HERE, "src");
const BUILD = join(HERE, "build");
// The operator ships the BoCs as package data (it never runs Node).
const OPERATOR_DATA = join(HERE, "..", "operator", "cocoon_operator", "data");

export const CONTRACTS = ["cocoon_root", "cocoon_proxy", "cocoon_worker", "cocoon_wallet"];

function pkgVersion(name) {
  const pj = JSON.parse(readFileSync(join(HERE, "node_modules", name, "package.json"), "utf8"));
  return pj.version;
}

async function compileOne(name) {
  const target = `${name}.fc`;
  const result = await compileFunc({
    targets: [target],
    sources: (path) => readFileSync(join(SRC, path), "utf8"),
  });
  if (result.status !== "ok") {
    throw new Error(`${name}: compilation failed:\n${result.message}`);
  }
  const cell = Cell.fromBase64(result.codeBoc);
  // Digest of every source file the compiler read (sorted), so staleness can be seen without Node.
  const files = [...result.snapshot].sort((a, b) => a.filename.localeCompare(b.filename));
  const digest = createHash("sha256");
  for (const f of files) {
    digest.update(f.filename + "\0" + f.content + "\0");
  }
  return {
    name,
    codeBoc: result.codeBoc,
    codeHash: cell.hash().toString("hex"),
    sourcesSha256: digest.digest("hex"),
    sources: files.map((f) => `src/${f.filename}`),
    warnings: result.warnings,
  };
}

async function main() {
  const check = process.argv.includes("--check");
  const funcVersion = (await compilerVersion()).funcVersion;
  const results = [];
  for (const name of CONTRACTS) {
    results.push(await compileOne(name));
  }
  const manifestPath = join(BUILD, "manifest.json");
  if (check) {
    const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, "utf8")) : { contracts: {} };
    const stale = [];
    const report = {};
    for (const r of results) {
      const entry = manifest.contracts[r.name];
      const bocPath = join(BUILD, `${r.name}.code.boc.b64`);
      const committedBoc = existsSync(bocPath) ? readFileSync(bocPath, "utf8").trim() : null;
      const committedHash = committedBoc ? Cell.fromBase64(committedBoc).hash().toString("hex") : null;
      const ok = entry !== undefined && entry.code_hash === r.codeHash && committedHash === r.codeHash;
      report[r.name] = { compiled: r.codeHash, manifest: entry?.code_hash ?? null, boc: committedHash, ok };
      if (!ok) stale.push(r.name);
    }
    process.stdout.write(JSON.stringify({ func_version: funcVersion, stale, contracts: report }) + "\n");
    process.exit(stale.length ? 1 : 0);
  }
  mkdirSync(BUILD, { recursive: true });
  const manifest = {
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
    writeFileSync(join(BUILD, `${r.name}.code.boc.b64`), r.codeBoc + "\n");
    manifest.contracts[r.name] = {
      source: `src/${r.name}.fc`,
      sources: r.sources,
      sources_sha256: r.sourcesSha256,
      boc: `build/${r.name}.code.boc.b64`,
      code_hash: r.codeHash,
    };
    if (r.warnings && r.warnings.trim()) process.stderr.write(`${r.name}: ${r.warnings}\n`);
    process.stdout.write(`${r.name}: ${r.codeHash}\n`);
  }
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
  mkdirSync(OPERATOR_DATA, { recursive: true });
  for (const r of results) {
    copyFileSync(join(BUILD, `${r.name}.code.boc.b64`), join(OPERATOR_DATA, `${r.name}.code.boc.b64`));
  }
  copyFileSync(manifestPath, join(OPERATOR_DATA, "contracts-manifest.json"));
}

main().catch((e) => {
  process.stderr.write(String(e.message ?? e) + "\n");
  process.exit(2);
});
