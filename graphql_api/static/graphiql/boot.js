/*
 * Boot script for the self-hosted GraphiQL page (see graphql_api/graphiql.py).
 *
 * It lives in a static file so the page works under `script-src 'self'`
 * (no inline scripts). Settings come from the non-executed JSON data block
 * <script type="application/json" id="graphiql-config">:
 *   {"endpoint": "/graphql", "defaultQuery": "..."}
 */
(function () {
  "use strict";

  var PREFIX = "graphiql:"; // GraphiQL's localStorage namespace
  var HISTORY_KEYS = [PREFIX + "queries", PREFIX + "favorites"];

  var config = JSON.parse(
    document.getElementById("graphiql-config").textContent
  );

  // GraphiQL's history saves each request's headers even when
  // shouldPersistHeaders is false; drop them so pasted tokens
  // (Authorization: Bearer ...) never land in localStorage.
  function withoutHeaders(key, value) {
    if (HISTORY_KEYS.indexOf(key) < 0) return value;
    try {
      var data = JSON.parse(value);
      Object.keys(data).forEach(function (name) {
        (Array.isArray(data[name]) ? data[name] : []).forEach(function (item) {
          if (item && typeof item === "object") delete item.headers;
        });
      });
      return JSON.stringify(data);
    } catch (e) {
      return value;
    }
  }

  // Same behaviour as GraphiQL's default localStorage adapter, plus the filter
  // above; null (no persistence at all) when storage is unavailable.
  function createStorage() {
    try {
      var ls = window.localStorage;
      ls.getItem(PREFIX + "query");
    } catch (e) {
      return null; // disabled (privacy mode, sandboxed frame...)
    }
    function ownKeys() {
      return Object.keys(ls).filter(function (key) {
        return key.indexOf(PREFIX) === 0;
      });
    }
    return {
      getItem: function (key) { return ls.getItem(key); },
      setItem: function (key, value) { ls.setItem(key, withoutHeaders(key, value)); },
      removeItem: function (key) { ls.removeItem(key); },
      clear: function () { ownKeys().forEach(function (key) { ls.removeItem(key); }); },
      get length() { return ownKeys().length; },
    };
  }

  var storage = createStorage();
  var props = {
    // Plain fetch() to the endpoint: default credentials mode (same-origin),
    // no extra headers; users add e.g. Authorization in the header editor.
    fetcher: GraphiQL.createFetcher({ url: config.endpoint }),
    storage: storage,
    defaultQuery: config.defaultQuery,
    isHeadersEditorEnabled: true,
    // Headers stay out of the stored tabs unless the user opts in.
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: "headers",
    inputValueDeprecation: true,
    plugins: window.GraphiQLPluginExplorer
      ? [window.GraphiQLPluginExplorer.explorerPlugin()]
      : [],
  };
  // GraphiQL restores the last edited query ("graphiql:query"); force the
  // default query only when nothing (or only whitespace) is stored, so a first
  // visit shows the example and a returning user keeps their work.
  var stored = storage && storage.getItem(PREFIX + "query");
  if (!stored || !stored.trim()) {
    props.query = config.defaultQuery;
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, props)
  );
})();
