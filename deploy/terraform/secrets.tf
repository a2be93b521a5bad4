# The environment's secrets. Terraform makes the secret (the name, where it
# is replicated, who may read it); the values are added by a person with
# `gcloud secrets versions add` (README.md) and never pass through Terraform,
# its state or this repository.

locals {
  secrets = concat(
    ["shopify-api-secret", "jwt-secret", "operator-keys"],
    var.redis ? ["redis-url"] : [],
  )
}

resource "google_secret_manager_secret" "petcut" {
  for_each  = toset(local.secrets)
  secret_id = "petcut-${var.environment}-${each.value}"

  # Automatic replication: readable from every region, so a regional outage does not take the secrets with it.
  replication {
    auto {}
  }

  labels     = { service = "petcut", environment = var.environment }
  depends_on = [google_project_service.apis]
}

# The service reads its own environment's secrets and no others (no project-wide accessor role).
resource "google_secret_manager_secret_iam_member" "runtime_reads" {
  for_each  = google_secret_manager_secret.petcut
  project   = each.value.project
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}
