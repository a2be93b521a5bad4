// The warm-up alone, for pages without the upload widget (the Shopify app embed on pet product pages): reads the
// service's address from <meta name="petcut:service" content="https://..."> and pings POST /warmup once.
import { warmUp } from './petcut-uploader.js';

const meta = document.querySelector('meta[name="petcut:service"]');
if (meta?.content) warmUp(new URL(meta.content, location.href).href.replace(/\/+$/, ''));
