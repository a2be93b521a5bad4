# Two accounts per environment. The service's own account can write metrics,
# traces and logs project-wide (those roles have no narrower scope), and
# everything else only on its own resources: its bucket (storage.tf), its
# secrets (secrets.tf). The deployer can push images and roll out the service.

resource "google_service_account" "runtime" {
  account_id   = local.runtime_account
  display_name = "petcut ${var.environment}: the Cloud Run service's identity"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "deployer" {
  account_id   = local.deploy_account
  display_name = "petcut ${var.environment}: pushes images and rolls out revisions"
  depends_on   = [google_project_service.apis]
}

resource "google_project_iam_member" "runtime_telemetry" {
  for_each = toset(["roles/monitoring.metricWriter", "roles/cloudtrace.agent", "roles/logging.logWriter"])
  project  = var.project_id
  role     = each.value
  member   = google_service_account.runtime.member
}

# V4 signed URLs on Cloud Run: the storage library asks the IAM API to sign as the service's own account.
resource "google_service_account_iam_member" "runtime_signs_as_itself" {
  count              = var.signed_urls ? 1 : 0
  service_account_id = google_service_account.runtime.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.runtime.member
}

# The deployer may deploy revisions that run as the runtime account, and as no other account.
resource "google_service_account_iam_member" "deployer_acts_as_runtime" {
  service_account_id = google_service_account.runtime.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}

# Who may act as the deployer (CI through workload identity, release managers): impersonation, no keys.
resource "google_service_account_iam_member" "deployer_principals" {
  for_each           = toset(var.deployer_principals)
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = each.value
}

# Alert-driven mitigations (docs/mitigations.md): the service sets its own service-level
# min/max instances through the Admin API (PETCUT_MITIGATION_SERVICE). A custom role with
# only what that takes (read the service, update it, follow the operation), granted on
# the service itself, not the project; and actAs on its own account, which Cloud Run
# checks on every service update. Never exercised against real Cloud Run (docs/mitigations.md).
resource "google_project_iam_custom_role" "self_scaler" {
  project     = var.project_id
  role_id     = "petcutSelfScaler${title(var.environment)}"
  title       = "petcut ${var.environment}: set its own service's scaling"
  permissions = ["run.services.get", "run.services.update", "run.operations.get"]
}

resource "google_cloud_run_v2_service_iam_member" "runtime_scales_itself" {
  for_each = google_cloud_run_v2_service.petcut
  project  = each.value.project
  location = each.value.location
  name     = each.value.name
  role     = google_project_iam_custom_role.self_scaler.name
  member   = google_service_account.runtime.member
}

resource "google_service_account_iam_member" "runtime_acts_as_itself" {
  service_account_id = google_service_account.runtime.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.runtime.member
}
