// The docs page: Swagger UI over this API's own OpenAPI document, "Try it out" against this API.
// Served after the vendored bundle in one script, so the page runs no inline code (see the CSP).
(function () {
  "use strict";
  // The page is <base>/docs: <base> is the API Gateway stage ("/api") or nothing (the local server).
  var base = window.location.pathname.replace(/\/docs\/?$/, "");
  var ui;

  // The ID token scheme of the document: an apiKey sent in the Authorization header.
  function tokenScheme() {
    var schemes = ui.specSelectors.specJson().getIn(["components", "securitySchemes"]);
    var found = null;
    if (schemes) {
      schemes.forEach(function (scheme, name) {
        if (!found && scheme.get("type") === "apiKey" && scheme.get("in") === "header" &&
            String(scheme.get("name")).toLowerCase() === "authorization") {
          found = name;
        }
      });
    }
    return found;
  }

  var root = document.getElementById("swagger-ui");
  ui = window.SwaggerUIBundle({
    url: new URL(root.getAttribute("data-openapi"), window.location.href).href,
    domNode: root,
    deepLinking: true,
    validatorUrl: null, // never send the document to a third-party validator
    persistAuthorization: false, // a token lives as long as the tab, never in localStorage
    // Operations are documented from the API's root; behind a stage they live under <base>.
    requestInterceptor: function (request) {
      var target = new URL(request.url, window.location.href);
      if (base && target.origin === window.location.origin && target.pathname.indexOf(base + "/") !== 0) {
        target.pathname = base + target.pathname;
        request.url = target.href;
      }
      return request;
    },
    // Logging in (or refreshing) through "Try it out" authorizes the page with the new ID token.
    responseInterceptor: function (response) {
      var path = new URL(response.url, window.location.href).pathname;
      if (response.ok && /\/auth\/(login|refresh)$/.test(path) && response.body && response.body.idToken) {
        var scheme = tokenScheme();
        if (scheme) {
          ui.preauthorizeApiKey(scheme, response.body.idToken);
        }
      }
      return response;
    },
  });
  window.ui = ui;
})();
