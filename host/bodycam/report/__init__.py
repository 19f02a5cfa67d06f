"""`bodycam report`: many cameras' audit logs and sealed clips, verified,
counted per camera, officer, team and week, and written as one
self-contained report.html plus CSVs (docs/report.md)."""
