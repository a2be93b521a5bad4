# Staging: the plan's reduced replica. One region, regional cache bucket
# without replication, no load balancer.
project_id  = "perkieprints-petcut-staging"
environment = "staging"
regions     = ["us-central1"]

bucket_name              = "perkieprints-staging-cache"
bucket_location          = "US-CENTRAL1"
bucket_turbo_replication = false
soft_delete_days         = 7

create_alert_policies = true
# Warnings only to e-mail in staging; fill in from `gcloud beta monitoring channels list`.
notification_channels = {}

load_balancer = false
