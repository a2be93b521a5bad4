# Inputs of one environment (environments/<env>.tfvars). Names that other
# tools share (services, accounts, repository, secrets) are derived from
# `environment` in main.tf, never typed twice.

variable "project_id" {
  description = "The Google Cloud project of this environment (one project per environment is recommended: alert policies are project-wide)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lower-case letters, digits, hyphens)."
  }
}

variable "environment" {
  description = "staging or production: names the service (petcut-<env>), its accounts and its secrets."
  type        = string
  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "regions" {
  description = "Regions with a Cloud Run service, primary first. A second region needs load_balancer = true (one URL in front of both)."
  type        = list(string)
  default     = ["us-central1"]
  validation {
    # us-central1 holds the Artifact Registry repository and has L4 GPUs; us-east4 is the planned second region.
    condition     = length(var.regions) >= 1 && length(var.regions) <= 2 && var.regions[0] == "us-central1" && alltrue([for r in var.regions : contains(["us-central1", "us-east4"], r)]) && length(distinct(var.regions)) == length(var.regions)
    error_message = "regions must be [\"us-central1\"] or [\"us-central1\", \"us-east4\"]."
  }
}

variable "bucket_name" {
  description = "The bucket petcut stores customer images, the cut-out cache and cost ledgers in."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid bucket name (3-63 lower-case letters, digits, hyphens, underscores)."
  }
}

variable "bucket_location" {
  description = "Bucket location: NAM4 (dual-region Iowa + South Carolina, the production default) or a region such as US-CENTRAL1."
  type        = string
  default     = "NAM4"
  validation {
    condition     = can(regex("^[A-Z]+[A-Z0-9-]*$", var.bucket_location))
    error_message = "bucket_location must be upper case, e.g. NAM4 or US-CENTRAL1."
  }
}

variable "bucket_turbo_replication" {
  description = "Turbo replication (RPO 15 min between the two regions of a dual-region bucket). Only for dual-region locations."
  type        = bool
  default     = true
}

variable "soft_delete_days" {
  description = "Days a deleted or overwritten object can be restored (GCS soft delete). 0 turns it off; the tests require it on."
  type        = number
  default     = 7
  validation {
    condition     = var.soft_delete_days == 0 || (var.soft_delete_days >= 7 && var.soft_delete_days <= 90)
    error_message = "soft_delete_days must be 0 or between 7 and 90 (GCS limits)."
  }
}

variable "cache_days" {
  description = "Days the cut-out cache (cache/) is kept: the service's PETCUT_CACHE_DAYS, which must match."
  type        = number
  default     = 7
  validation {
    condition     = var.cache_days >= 1 && var.cache_days <= 365 && floor(var.cache_days) == var.cache_days
    error_message = "cache_days must be a whole number of days from 1 to 365 (PETCUT_CACHE_DAYS' range)."
  }
}

variable "signed_urls" {
  description = "Whether the service signs URLs (PETCUT_SIGNED_URLS=true): on Cloud Run the library signs through the IAM API, so the runtime account may sign as itself."
  type        = bool
  default     = false
}

variable "redis" {
  description = "Create the optional REDIS_URL secret (shared rate-limit state across instances)."
  type        = bool
  default     = false
}

variable "placeholder_image" {
  description = "The image the service shell is created with. The rollout replaces it; Terraform never changes it afterwards (ignore_changes)."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "deletion_protection" {
  description = "Refuse to destroy the Cloud Run services."
  type        = bool
  default     = true
}

variable "deployer_principals" {
  description = "Principals (CI's workload identity, release managers) allowed to act as the deployer account. No keys are made."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for p in var.deployer_principals : can(regex("^(user|group|serviceAccount|principal|principalSet):", p))])
    error_message = "deployer_principals must be IAM members such as group:releases@example.com or principalSet://..."
  }
}

variable "create_alert_policies" {
  description = "Create the Cloud Monitoring alert policies of deploy/gcp/policies/."
  type        = bool
  default     = true
}

variable "notification_channels" {
  description = "Notification channel ids by the placeholder the policy files use (PAGERDUTY_CHANNEL_ID, SMS_CHANNEL_ID, SLACK_CHANNEL_ID, EMAIL_CHANNEL_ID). A placeholder without an id is left out."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.notification_channels) : contains(["PAGERDUTY_CHANNEL_ID", "SMS_CHANNEL_ID", "SLACK_CHANNEL_ID", "EMAIL_CHANNEL_ID"], k)])
    error_message = "notification_channels keys must be PAGERDUTY_CHANNEL_ID, SMS_CHANNEL_ID, SLACK_CHANNEL_ID or EMAIL_CHANNEL_ID."
  }
}

variable "load_balancer" {
  description = "Put a global external HTTPS load balancer (serverless NEGs) and Cloud Armor in front of the services. Off: the run.app URL is public and there is no Cloud Armor."
  type        = bool
  default     = false
}

variable "domain" {
  description = "The load balancer's host name (managed certificate). Required with load_balancer."
  type        = string
  default     = ""
  validation {
    condition     = var.domain == "" || can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lower-case host name such as bg.perkieprints.com."
  }
}

variable "allowed_region_codes" {
  description = "The markets (ISO 3166-1 alpha-2) Cloud Armor lets through; other origins get 403. At most 4: a Cloud Armor expression has at most 5 subexpressions."
  type        = list(string)
  default     = ["US", "CA"]
  validation {
    condition     = length(var.allowed_region_codes) >= 1 && length(var.allowed_region_codes) <= 4 && alltrue([for c in var.allowed_region_codes : can(regex("^[A-Z]{2}$", c))])
    error_message = "allowed_region_codes must hold 1 to 4 upper-case two-letter country codes."
  }
}

variable "rate_limit_ip_per_min" {
  description = "Requests per minute per client address: petcut's PETCUT_RATE_LIMIT_IP_PER_MIN (plan: 100). Keep the two equal."
  type        = number
  default     = 100
  validation {
    condition     = var.rate_limit_ip_per_min >= 1 && floor(var.rate_limit_ip_per_min) == var.rate_limit_ip_per_min
    error_message = "rate_limit_ip_per_min must be a whole number >= 1."
  }
}

variable "rate_limit_burst" {
  description = "Burst on top of the rate: petcut's PETCUT_RATE_LIMIT_BURST (plan: 10). Keep the two equal."
  type        = number
  default     = 10
  validation {
    condition     = var.rate_limit_burst >= 0 && floor(var.rate_limit_burst) == var.rate_limit_burst
    error_message = "rate_limit_burst must be a whole number >= 0."
  }
}

variable "app_proxy_requests_per_min" {
  description = "Edge ceiling per address for signed Shopify App Proxy requests: they all come from Shopify's servers, so one address carries many shoppers (petcut limits each shopper itself)."
  type        = number
  default     = 3000
  validation {
    condition     = var.app_proxy_requests_per_min >= 1 && floor(var.app_proxy_requests_per_min) == var.app_proxy_requests_per_min
    error_message = "app_proxy_requests_per_min must be a whole number >= 1."
  }
}

variable "waf_preview" {
  description = "Run the WAF rules in preview (logged, not enforced). Start with true, read the logs for false positives, then set false."
  type        = bool
  default     = true
}

variable "scaling_schedule" {
  description = "Create the Cloud Scheduler jobs of the scaling schedule (scheduler.tf) and their account. Off: min/max instances stay where they were last set."
  type        = bool
  default     = true
}

variable "scaling_jobs_file" {
  description = "The jobs file of `petcut scale export --scheduler` (empty: deploy/scaling/scheduler.<environment>.json)."
  type        = string
  default     = ""
}
