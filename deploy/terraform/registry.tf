# One Docker repository for the images petcut-cpu and petcut-gpu, in the
# environment's project (one project per environment: README.md). No cleanup
# policy: a rollback needs the previous images, and which digests the live
# revisions use is the rollout tool's knowledge, not Terraform's.

resource "google_artifact_registry_repository" "petcut" {
  location      = "us-central1"
  repository_id = "petcut"
  format        = "DOCKER"
  description   = "petcut images: petcut-cpu, petcut-gpu"
  depends_on    = [google_project_service.apis]
}

resource "google_artifact_registry_repository_iam_member" "deployer_writes" {
  location   = google_artifact_registry_repository.petcut.location
  repository = google_artifact_registry_repository.petcut.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.deployer.member
}
