# The time-based scaling schedule (deploy/scaling/schedule.yml, docs/scaling.md)
# as Cloud Scheduler jobs: at each window boundary a job PATCHes the service's
# service-level scaling through the Cloud Run Admin API
#   PATCH https://run.googleapis.com/v2/projects/P/locations/R/services/S?updateMask=scaling
#   {"scaling":{"minInstanceCount":..,"maxInstanceCount":..}}
# with an OAuth token of its own account. updateMask=scaling changes nothing
# else: no revision, no traffic move, the rollout's annotation left alone.
# Nothing of petcut runs for it. The jobs come from the file
# `petcut scale export --scheduler --env <env> --year <year> --out deploy/scaling/scheduler.<env>.json`
# writes (one calendar year: export the next one each December; a test keeps
# the committed files equal to a fresh export). Never applied to a real project.

locals {
  scaling_jobs_file = var.scaling_jobs_file != "" ? var.scaling_jobs_file : "${path.module}/../scaling/scheduler.${var.environment}.json"
  # One job per (region, exported job); every value a string, so the map has one type.
  scaling_jobs = merge([for region in(var.scaling_schedule ? var.regions : []) : {
    for job in jsondecode(file(local.scaling_jobs_file)).jobs : "${region}/${job.name}" => {
      region      = region
      name        = job.name
      description = job.description
      schedule    = job.schedule
      time_zone   = job.timeZone
      body        = jsonencode(job.body)
    }
  }]...)
}

# The jobs' identity: it may update these services and nothing else.
resource "google_service_account" "scaler" {
  count        = var.scaling_schedule ? 1 : 0
  account_id   = "petcut-scale-${var.environment}"
  display_name = "petcut ${var.environment}: Cloud Scheduler sets the service's min/max instances"
  depends_on   = [google_project_service.apis]
}

# Least privilege: services.patch needs run.services.update and nothing more (the
# Scheduler does not read the service or poll the operation). roles/run.developer
# would also let it deploy images and delete revisions.
resource "google_project_iam_custom_role" "scheduled_scaler" {
  count       = var.scaling_schedule ? 1 : 0
  project     = var.project_id
  role_id     = "petcutScheduledScaler${title(var.environment)}"
  title       = "petcut ${var.environment}: set the service's scaling on a schedule"
  permissions = ["run.services.update"]
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_scales" {
  for_each = var.scaling_schedule ? google_cloud_run_v2_service.petcut : {}
  project  = each.value.project
  location = each.value.location
  name     = each.value.name
  role     = google_project_iam_custom_role.scheduled_scaler[0].name
  member   = google_service_account.scaler[0].member
}

# Cloud Run checks actAs on the service's runtime account on every service
# update, even one that changes only scaling (as iam.tf's self_scaler assumes).
resource "google_service_account_iam_member" "scaler_acts_as_runtime" {
  count              = var.scaling_schedule ? 1 : 0
  service_account_id = google_service_account.runtime.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.scaler[0].member
}

resource "google_cloud_scheduler_job" "scaling" {
  for_each    = local.scaling_jobs
  project     = var.project_id
  region      = each.value.region
  name        = each.value.name
  description = each.value.description
  schedule    = each.value.schedule
  time_zone   = each.value.time_zone
  # A PATCH answers at once with an operation; a minute covers a slow answer.
  attempt_deadline = "60s"

  # A refused or failed PATCH (a rollout's update in flight, a 5xx) is tried again;
  # every job sets absolute values, so a late or repeated one is harmless.
  retry_config {
    retry_count          = 3
    min_backoff_duration = "30s"
    max_doublings        = 2
  }

  http_target {
    http_method = "PATCH"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${each.value.region}/services/${google_cloud_run_v2_service.petcut[each.value.region].name}?updateMask=scaling"
    body        = base64encode(each.value.body)
    headers     = { "Content-Type" = "application/json" }
    oauth_token {
      service_account_email = google_service_account.scaler[0].email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_project_service.apis, google_cloud_run_v2_service_iam_member.scheduler_scales, google_service_account_iam_member.scaler_acts_as_runtime]
}
