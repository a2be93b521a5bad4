/* global SwaggerUIBundle */
/**
 * The API docs: Swagger UI (served from the service, no CDN) on the
 * service's own /openapi.json. "Try it out" calls the same origin. Not
 * swagger-ui-dist's swagger-initializer.js: that one loads the petstore.
 */
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  // The badge would fetch from validator.swagger.io: another origin, and the page's CSP refuses it.
  validatorUrl: null,
  defaultModelsExpandDepth: 0,
  displayRequestDuration: true,
  tryItOutEnabled: false,
});
