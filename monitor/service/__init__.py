"""The running service: the pipeline, the daemon's jobs, retranslation, logs, sd_notify."""
