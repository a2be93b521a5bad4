# Production: dual-region NAM4 bucket with turbo replication (RPO 15 min).
project_id  = "perkieprints-petcut-production"
environment = "production"
regions     = ["us-central1"]

bucket_name              = "perkieprints-production-images"
bucket_location          = "NAM4"
bucket_turbo_replication = true
soft_delete_days         = 30

create_alert_policies = true
# Channel ids from `gcloud beta monitoring channels list` (deploy/gcp/README.md).
notification_channels = {}

# The second region (docs/operations/disaster-recovery.md): set both lines,
# give the load balancer its domain, then point the storefront at it.
#   regions       = ["us-central1", "us-east4"]
#   load_balancer = true
# Several instances share rate-limit state through Redis (Memorystore): its URL is a secret.
redis = true

load_balancer = false
domain        = ""

# Cloud Armor (with the load balancer only).
allowed_region_codes = ["US", "CA"]
waf_preview          = true
