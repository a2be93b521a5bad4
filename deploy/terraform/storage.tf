# The bucket: customer images (sessions/<tier>/), the cut-out cache (cache/)
# and the cost ledgers (cost/ledgers/). Private (uniform access, public access
# prevention), soft delete for mistakes, and in production dual-region NAM4
# with turbo replication (RPO 15 min, the plan's data-loss scenario).
#
# The lifecycle rules are petcut's, one per tier and one for the cache:
# `petcut storage lifecycle` prints the same list (expiryRules in
# src/service/sessions.ts, tier lifetimes in src/service/tiers.ts), and
# test/terraform.test.ts fails when the two differ. Each rule has the shape
# petcut's own merge recognises (Delete, age + one matches_prefix), so a
# service started with PETCUT_LIFECYCLE=apply finds them "unchanged".
# Nothing expires cost/ledgers/.

locals {
  dual_regions = ["NAM4", "EUR4", "ASIA1"]
}

resource "google_storage_bucket" "images" {
  name          = var.bucket_name
  location      = var.bucket_location
  storage_class = "STANDARD"
  rpo           = var.bucket_turbo_replication ? "ASYNC_TURBO" : null

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Deleted and overwritten objects stay restorable this long (docs/operations/disaster-recovery.md).
  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_days * 86400
  }

  # Soft delete covers deletes and overwrites without keeping every version's bytes forever.
  versioning {
    enabled = false
  }

  lifecycle_rule {
    condition {
      age            = 7
      matches_prefix = ["sessions/temporary/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age            = 30
      matches_prefix = ["sessions/order_pending/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age            = 180
      matches_prefix = ["sessions/order_completed/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age            = 730
      matches_prefix = ["sessions/archived/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age            = var.cache_days
      matches_prefix = ["cache/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle {
    prevent_destroy = true
    precondition {
      condition     = !var.bucket_turbo_replication || contains(local.dual_regions, var.bucket_location)
      error_message = "Turbo replication needs a dual-region bucket_location (NAM4, EUR4, ASIA1)."
    }
  }

  depends_on = [google_project_service.apis]
}

# Read/write on objects of this bucket only (no bucket settings, no IAM, no other bucket).
resource "google_storage_bucket_iam_member" "runtime_objects" {
  bucket = google_storage_bucket.images.name
  role   = "roles/storage.objectUser"
  member = google_service_account.runtime.member
}
