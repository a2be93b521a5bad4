# The Cloud Run service shell, one per region. Terraform owns what the service
# is (name, region, ingress, the account it runs as, who may call it); the
# rendered manifest (`petcut deploy render` + `gcloud run services replace`)
# owns the revision template (image, resources, env, probes), the rollout
# command owns image and traffic, and the scaling schedule owns min/max
# instances. Terraform ignores those fields after creation, so an apply never
# rolls a release back or moves traffic (README.md: "Who owns what").

resource "google_cloud_run_v2_service" "petcut" {
  for_each            = toset(var.regions)
  name                = local.service_name
  location            = each.value
  ingress             = local.ingress
  deletion_protection = var.deletion_protection

  template {
    service_account = google_service_account.runtime.email
    containers {
      image = var.placeholder_image
    }
  }

  lifecycle {
    ignore_changes = [template, traffic, scaling, client, client_version, labels, annotations]
    precondition {
      condition     = length(var.regions) == 1 || var.load_balancer
      error_message = "A second region needs load_balancer = true: one URL in front of both services."
    }
  }

  depends_on = [google_project_service.apis]
}

# The storefront calls the service from shoppers' browsers: anyone may invoke
# it, and petcut checks each request itself (SECURITY.md). With the load
# balancer the ingress setting keeps run.app closed, so the public way in is
# the balancer, through Cloud Armor.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  for_each = google_cloud_run_v2_service.petcut
  project  = each.value.project
  location = each.value.location
  name     = each.value.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# The deployer rolls out revisions and moves traffic on these services only.
resource "google_cloud_run_v2_service_iam_member" "deployer_develops" {
  for_each = google_cloud_run_v2_service.petcut
  project  = each.value.project
  location = each.value.location
  name     = each.value.name
  role     = "roles/run.developer"
  member   = google_service_account.deployer.member
}
