// Runs the graphql-http server audit (GraphQL over HTTP spec) against a URL; prints JSON results.
//   node audit.mjs http://127.0.0.1:PORT/graphql
import { auditServer } from "graphql-http";

const results = await auditServer({ url: process.argv[2] });
console.log(JSON.stringify(results.map(({ id, name, status, reason }) => ({ id, name, status, reason }))));
