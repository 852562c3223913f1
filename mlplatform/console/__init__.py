"""The console's pages that span apps: dashboards, the project admin with its quotas, first-run
setup. It sits above every app and imports any of them; nothing imports it but the URL conf."""
