// A second, small subgraph for the federation tests: it adds fields to the facade's entities
// (`saves` and `staffNote` to Pin, `followers` to Catalog, `rating` and `staffNote` to
// ProductGroup) and names them by id only (the gateway resolves the rest from the facade).
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
const catalog = (id) => ({ id, followers: 10 * saves(id) });
const group = (id) => ({ id, rating: (saves(id) % 5) + 1, staffNote: `group note for ${id}` });
const references = (_, { ids }) => ids.map((id) => ({ id }));

const resolvers = {
  Query: { staffPicks: references, featuredGroups: references, followedCatalogs: references },
  Pin: { __resolveReference: ({ id }) => pin(id), saves: ({ id }) => saves(id), staffNote: ({ id }) => `note for ${id}` },
  Catalog: { __resolveReference: ({ id }) => catalog(id), followers: ({ id }) => catalog(id).followers },
  ProductGroup: {
    __resolveReference: ({ id }) => group(id),
    rating: ({ id }) => group(id).rating,
    staffNote: ({ id }) => group(id).staffNote,
  },
};

const server = new ApolloServer({ schema: buildSubgraphSchema([{ typeDefs, resolvers }]) });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: Number(process.argv[2]) } });
console.log(`ready ${url}`);
