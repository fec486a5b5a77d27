"""CareThread: care-team coordination for integrated mental-health care, in Slack."""
