# Cloud Armor on the load balancer's backend (only with var.load_balancer:
# without the balancer there is nothing to attach a policy to). Rules run by
# priority, first match wins:
#
#    100  Shopify webhooks: allowed. Shopify's servers send them from wherever
#         they are, petcut verifies their HMAC before reading anything, and
#         order JSON (names, addresses, notes) trips the SQLi/XSS signatures.
#   1000  Markets: origins outside var.allowed_region_codes get 403. Signed App
#         Proxy requests (a `signature=` query) come from Shopify's servers, not
#         the shopper's country, and are let through to petcut, which verifies
#         the signature (an unsigned caller that adds one is still limited by
#         petcut per address).
#   2000  WAF, every request: method enforcement, scanner detection, CVE canary
#         (headers, URL, method only).
#   2100  WAF, every request but multipart uploads: SQLi, XSS, LFI, RFI, RCE,
#         protocol attack, session fixation, PHP, Java, Node.js. Cloud Armor
#         reads the first kilobytes of a body as text; the compressed JPEG/PNG/
#         WebP bytes of an upload hold quotes, angle brackets, `..` and `;` at
#         random and trip these signatures. petcut checks upload bytes itself
#         (magic numbers, layout, active content: src/security/).
#   3000  Signed App Proxy requests: throttled per address at a higher ceiling
#         (one Shopify address carries many shoppers; petcut limits each one).
#   3100  Everyone else: throttled per address at petcut's own limit, the most
#         petcut's GCRA lets one address make in 60 s (rate + burst): the edge
#         refuses what petcut would refuse anyway, before it reaches (and
#         scales) the service, and never refuses what petcut would serve.
#         Preflights count at the edge (petcut skips them).
#
# The WAF rules start in preview (var.waf_preview): logged, not enforced.

locals {
  # A Cloud Armor expression allows 5 subexpressions: up to 4 markets plus the App Proxy test (variables.tf).
  in_markets       = join(" || ", [for code in var.allowed_region_codes : "origin.region_code == '${code}'"])
  app_proxy_signed = "request.query.contains('signature=')"
  not_multipart    = "!(has(request.headers['content-type']) && request.headers['content-type'].lower().contains('multipart/form-data'))"

  # What petcut's GCRA (src/security/rateLimit/gcra.ts) lets one address make in a 60 s window.
  edge_requests_per_minute = var.rate_limit_ip_per_min + var.rate_limit_burst

  waf_everywhere = ["methodenforcement-v33-stable", "scannerdetection-v33-stable", "cve-canary"]
  waf_not_multipart = ["sqli-v33-stable", "xss-v33-stable", "lfi-v33-stable", "rfi-v33-stable", "rce-v33-stable",
  "protocolattack-v33-stable", "sessionfixation-v33-stable", "php-v33-stable", "java-v33-stable", "nodejs-v33-stable"]

  # Sensitivity 1: the CRS paranoia level 1 signatures, the ones least likely to refuse a real shopper.
  waf_rules = concat(
    [for i, name in local.waf_everywhere : {
      priority   = 2000 + i
      name       = name
      expression = "evaluatePreconfiguredWaf('${name}', {'sensitivity': 1})"
    }],
    [for i, name in local.waf_not_multipart : {
      priority   = 2100 + i
      name       = name
      expression = "evaluatePreconfiguredWaf('${name}', {'sensitivity': 1}) && ${local.not_multipart}"
    }],
  )
}

resource "google_compute_security_policy" "edge" {
  count       = var.load_balancer ? 1 : 0
  name        = "${local.service_name}-edge"
  description = "petcut ${var.environment}: markets, WAF, per-address rate limits (deploy/terraform/armor.tf)"
  type        = "CLOUD_ARMOR"

  # The plan's anomaly detection: Adaptive Protection learns the normal traffic and flags L7 floods.
  adaptive_protection_config {
    layer_7_ddos_defense_config {
      enable = true
    }
  }

  rule {
    priority    = 100
    action      = "allow"
    description = "Shopify webhooks (HMAC-verified by petcut)"
    match {
      expr {
        expression = "request.path == '/v1/webhooks/shopify' && request.method == 'POST'"
      }
    }
  }

  rule {
    priority    = 1000
    action      = "deny(403)"
    description = "outside the shop's markets"
    match {
      expr {
        expression = "!(${local.in_markets}) && !${local.app_proxy_signed}"
      }
    }
  }

  dynamic "rule" {
    for_each = local.waf_rules
    content {
      priority    = rule.value.priority
      action      = "deny(403)"
      preview     = var.waf_preview
      description = "WAF ${rule.value.name}"
      match {
        expr {
          expression = rule.value.expression
        }
      }
    }
  }

  rule {
    priority    = 3000
    action      = "throttle"
    description = "signed App Proxy requests: per Shopify address"
    match {
      expr {
        expression = local.app_proxy_signed
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.app_proxy_requests_per_min
        interval_sec = 60
      }
    }
  }

  rule {
    priority    = 3100
    action      = "throttle"
    description = "per client address: petcut's rate + burst per minute"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = local.edge_requests_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    priority    = 2147483647
    action      = "allow"
    description = "default (not reached: the last throttle matches every request)"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}
