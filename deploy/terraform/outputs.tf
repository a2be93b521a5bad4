# What the rollout tools and the runbooks need from this environment.

output "service_urls" {
  description = "The run.app URL of each region's service (closed to the internet when load_balancer is on)."
  value       = { for region, service in google_cloud_run_v2_service.petcut : region => service.uri }
}

output "ingress" {
  description = "The services' ingress: the rendered manifest must carry the same run.googleapis.com/ingress, as `services replace` resets what it omits."
  value       = local.ingress
}

output "load_balancer_ip" {
  description = "Point the domain's A record here (load_balancer only)."
  value       = var.load_balancer ? google_compute_global_address.petcut[0].address : null
}

output "load_balancer_url" {
  description = "The public URL with the load balancer."
  value       = var.load_balancer ? "https://${var.domain}" : null
}

output "bucket" {
  description = "PETCUT_BUCKET."
  value       = google_storage_bucket.images.name
}

output "repository" {
  description = "Where images are pushed: <repository>/petcut-cpu:<tag>, <repository>/petcut-gpu:<tag>."
  value       = "${google_artifact_registry_repository.petcut.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.petcut.repository_id}"
}

output "runtime_service_account" {
  description = "The account the service runs as (the manifest's serviceAccountName)."
  value       = google_service_account.runtime.email
}

output "deployer_service_account" {
  description = "The account rollouts run as."
  value       = google_service_account.deployer.email
}

output "secrets" {
  description = "The secret ids to add values to (gcloud secrets versions add)."
  value       = [for secret in google_secret_manager_secret.petcut : secret.secret_id]
}

output "alert_policies" {
  description = "The alert policies created, by alert name."
  value       = { for name, policy in google_monitoring_alert_policy.petcut : name => policy.name }
}
