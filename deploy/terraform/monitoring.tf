# The alert policies of deploy/gcp/policies/ (generated from
# deploy/prometheus/alerts.yml by deploy/gcp/generate.mjs), one resource per
# file. The provider takes HCL blocks, not the API's JSON, so each field of
# the file is mapped below; test/terraform.test.ts checks every file becomes
# a policy and every field the files use is mapped. Channel placeholders
# (projects/PROJECT_ID/notificationChannels/SLACK_CHANNEL_ID) become this
# project's channels from var.notification_channels; one without an id is
# left out.

locals {
  policy_dir = "${path.module}/../gcp/policies"
  policies = var.create_alert_policies ? {
    for f in fileset(local.policy_dir, "*.json") : trimsuffix(f, ".json") => jsondecode(file("${local.policy_dir}/${f}"))
  } : {}
}

resource "google_monitoring_alert_policy" "petcut" {
  for_each     = local.policies
  display_name = "${each.value.displayName} [${var.environment}]"
  combiner     = each.value.combiner
  severity     = each.value.severity
  enabled      = each.value.enabled
  user_labels  = merge(each.value.userLabels, { environment = var.environment })

  notification_channels = [
    for channel in each.value.notificationChannels :
    "projects/${var.project_id}/notificationChannels/${var.notification_channels[basename(channel)]}"
    if contains(keys(var.notification_channels), basename(channel))
  ]

  documentation {
    subject   = each.value.documentation.subject
    mime_type = each.value.documentation.mimeType
    content   = each.value.documentation.content
  }

  alert_strategy {
    auto_close = each.value.alertStrategy.autoClose
  }

  dynamic "conditions" {
    for_each = each.value.conditions
    content {
      display_name = conditions.value.displayName
      condition_prometheus_query_language {
        query                     = conditions.value.conditionPrometheusQueryLanguage.query
        duration                  = conditions.value.conditionPrometheusQueryLanguage.duration
        evaluation_interval       = conditions.value.conditionPrometheusQueryLanguage.evaluationInterval
        labels                    = conditions.value.conditionPrometheusQueryLanguage.labels
        rule_group                = conditions.value.conditionPrometheusQueryLanguage.ruleGroup
        alert_rule                = conditions.value.conditionPrometheusQueryLanguage.alertRule
        disable_metric_validation = conditions.value.conditionPrometheusQueryLanguage.disableMetricValidation
      }
    }
  }

  depends_on = [google_project_service.apis]
}
