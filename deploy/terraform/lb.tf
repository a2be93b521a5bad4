# Optional (var.load_balancer): one global external HTTPS load balancer in
# front of the service of every region, through serverless NEGs, with Cloud
# Armor on the backend (armor.tf). Needed for a second region; without it the
# service's run.app URL is the way in and there is no Cloud Armor.
#
# Serverless NEGs have no health checks: outlier detection takes a region that
# answers 5xx out of rotation, which is the failover between regions
# (docs/operations/disaster-recovery.md). The backend timeout cannot be set
# for serverless NEGs; Cloud Run's request timeout (the manifest's) applies,
# WebSockets included.

resource "google_compute_region_network_endpoint_group" "petcut" {
  for_each              = { for region, service in google_cloud_run_v2_service.petcut : region => service.name if var.load_balancer }
  name                  = "${local.service_name}-${each.key}"
  region                = each.key
  network_endpoint_type = "SERVERLESS"
  cloud_run {
    service = each.value
  }
}

resource "google_compute_backend_service" "petcut" {
  count                 = var.load_balancer ? 1 : 0
  name                  = local.service_name
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.edge[0].id

  dynamic "backend" {
    for_each = google_compute_region_network_endpoint_group.petcut
    content {
      group = backend.value.id
    }
  }

  outlier_detection {
    consecutive_errors = 5
    interval {
      seconds = 10
    }
    base_ejection_time {
      seconds = 60
    }
  }

  # Cloud Armor decisions (allowed, throttled, WAF preview matches) are in these logs.
  log_config {
    enable      = true
    sample_rate = 1
  }
}

resource "google_compute_url_map" "petcut" {
  count           = var.load_balancer ? 1 : 0
  name            = local.service_name
  default_service = google_compute_backend_service.petcut[0].id
}

resource "google_compute_managed_ssl_certificate" "petcut" {
  count = var.load_balancer ? 1 : 0
  name  = "${local.service_name}-cert"
  managed {
    domains = [var.domain]
  }
  lifecycle {
    precondition {
      condition     = var.domain != ""
      error_message = "load_balancer needs a domain for its managed certificate."
    }
  }
}

resource "google_compute_target_https_proxy" "petcut" {
  count            = var.load_balancer ? 1 : 0
  name             = "${local.service_name}-https"
  url_map          = google_compute_url_map.petcut[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.petcut[0].id]
}

resource "google_compute_global_address" "petcut" {
  count = var.load_balancer ? 1 : 0
  name  = "${local.service_name}-ip"
}

resource "google_compute_global_forwarding_rule" "https" {
  count                 = var.load_balancer ? 1 : 0
  name                  = "${local.service_name}-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.petcut[0].id
  port_range            = "443"
  target                = google_compute_target_https_proxy.petcut[0].id
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "redirect" {
  count = var.load_balancer ? 1 : 0
  name  = "${local.service_name}-redirect"
  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  count   = var.load_balancer ? 1 : 0
  name    = "${local.service_name}-http"
  url_map = google_compute_url_map.redirect[0].id
}

resource "google_compute_global_forwarding_rule" "http" {
  count                 = var.load_balancer ? 1 : 0
  name                  = "${local.service_name}-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.petcut[0].id
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect[0].id
}
