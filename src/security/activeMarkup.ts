/**
 * What markup counts as active, as data in one place (activeContent.ts does
 * the matching). The rule is the browser's, not a list of payloads seen:
 * refused are the elements that act by being there, taken by category from
 * the HTML standard; every other element (b, i, p, a, span, div, table...)
 * only displays text, and acts only through an event-handler attribute,
 * which is refused on any element. SVG and MathML elements act only inside
 * <svg> or <math>, which are refused. Namespaced names (rdf:li, x:xmpmeta)
 * are XML to a browser's HTML parser too: unknown elements, inert.
 */
export const ACTIVE_ELEMENTS: ReadonlySet<string> = new Set([
  // Embedded content: loads and shows another resource, or starts SVG or MathML.
  'audio', 'canvas', 'embed', 'iframe', 'img', 'math', 'object', 'picture', 'svg', 'video',
  // Metadata content: runs script, loads style or links, redirects (meta refresh), moves the base URL.
  'base', 'link', 'meta', 'noscript', 'script', 'style', 'template', 'title',
  // Forms: ask for input (passwords) and send it somewhere.
  'button', 'fieldset', 'form', 'input', 'output', 'select', 'textarea',
  // The document and its frames.
  'body', 'frame', 'frameset', 'head', 'html',
  // Obsolete or proposed elements browsers still (or soon) treat like those above.
  'applet', 'bgsound', 'fencedframe', 'image', 'isindex', 'keygen', 'portal',
]);

export const LONGEST_ELEMENT = Math.max(...[...ACTIVE_ELEMENTS].map((name) => name.length));

/** URL schemes that run script where a link or a source is followed. */
export const SCRIPT_SCHEMES: readonly string[] = ['javascript', 'vbscript'];

/** data: URLs of these types are documents that run script when opened. */
export const SCRIPT_DOCUMENT_TYPES: readonly string[] = ['text/html', 'application/xhtml', 'image/svg', 'text/xml', 'application/xml'];
