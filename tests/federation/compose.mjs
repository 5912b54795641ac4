// Composes subgraph SDL files with the real @apollo/composition and prints the outcome as JSON:
//   node compose.mjs name=path.graphql [name=path.graphql ...]
import { readFileSync } from "node:fs";
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

const services = process.argv.slice(2).map((arg) => {
  const [name, path] = arg.split("=");
  return { name, url: `http://${name}.invalid/graphql`, typeDefs: parse(readFileSync(path, "utf8")) };
});
const result = composeServices(services);
console.log(
  JSON.stringify({
    errors: (result.errors ?? []).map((e) => ({ code: e.extensions?.code, message: e.message })),
    hints: (result.hints ?? []).map((h) => ({ code: h.definition.code, level: h.definition.level.name, message: h.message })),
    supergraphSdl: result.supergraphSdl ?? null,
  }),
);
