from graphql_api.cli import run

run()
