// A second, small subgraph for the federation tests: it adds `saves` and `staffNote` to the
// facade's Pin entity and names Pins by id only (the gateway resolves the rest from the facade).
//   node reviews-subgraph.mjs PORT
import { readFileSync } from "node:fs";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";

const typeDefs = parse(readFileSync(new URL("./reviews.graphql", import.meta.url), "utf8"));
// Deterministic, so the tests can compute what to expect.
const saves = (id) => [...id].reduce((sum, digit) => sum + Number(digit), 0);
const pin = (id) => ({ id, saves: saves(id), staffNote: `note for ${id}` });

const resolvers = {
  Query: { staffPicks: (_, { ids }) => ids.map((id) => ({ id })) },
  Pin: { __resolveReference: ({ id }) => pin(id), saves: ({ id }) => saves(id), staffNote: ({ id }) => `note for ${id}` },
};

const server = new ApolloServer({ schema: buildSubgraphSchema([{ typeDefs, resolvers }]) });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: Number(process.argv[2]) } });
console.log(`ready ${url}`);
