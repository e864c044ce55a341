"""Run reports: report.md, results.json, plots and the self-contained timeline.html."""
