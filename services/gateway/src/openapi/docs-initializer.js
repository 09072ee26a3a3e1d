// Starts Swagger UI on GET /docs. A file of its own, served from the gateway,
// because the page's Content-Security-Policy allows no inline script.
// `SwaggerUIBundle` is the global of swagger-ui-bundle.js, loaded just before.
window.ui = window.SwaggerUIBundle({
  // Relative, so the page works under whatever prefix the gateway is reached at.
  url: 'openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  // The default validator badge would send the document to a third party.
  validatorUrl: null,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  defaultModelsExpandDepth: 0,
});
