// Exports @ton/sandbox's bundled mainnet blockchain config (base64 BoC) as a committed fixture:
//   node export-config.mjs  ->  fixtures/mainnet-config.boc.b64
// Refreshing it from the live network is deliberately not automated (needs network access).
import { defaultConfig } from "@ton/sandbox";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(HERE, "fixtures"), { recursive: true });
writeFileSync(join(HERE, "fixtures", "mainnet-config.boc.b64"), defaultConfig + "\n");
process.stdout.write(`wrote fixtures/mainnet-config.boc.b64 (${defaultConfig.length} base64 chars)\n`);
