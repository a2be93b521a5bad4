# Shared names (the manifest renderer uses the same ones) and the project's APIs.

locals {
  primary_region  = var.regions[0]
  service_name    = "petcut-${var.environment}"
  runtime_account = "petcut-run-${var.environment}"
  deploy_account  = "petcut-deploy-${var.environment}"
  # With a load balancer in front, only it may reach the services (Cloud Armor cannot be bypassed through run.app).
  ingress = var.load_balancer ? "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" : "INGRESS_TRAFFIC_ALL"

  apis = concat(
    ["run.googleapis.com", "artifactregistry.googleapis.com", "secretmanager.googleapis.com", "storage.googleapis.com",
    "iam.googleapis.com", "iamcredentials.googleapis.com", "monitoring.googleapis.com", "cloudtrace.googleapis.com", "logging.googleapis.com"],
    var.load_balancer ? ["compute.googleapis.com"] : [],
    var.scaling_schedule ? ["cloudscheduler.googleapis.com"] : [],
  )
}

resource "google_project_service" "apis" {
  for_each = toset(local.apis)
  service  = each.value
  # Turning an API off would break whatever else in the project uses it.
  disable_on_destroy = false
}
