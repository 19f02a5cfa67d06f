"""Evidence on the host: clips and audit logs checked (verify), device keys
(keys), the S3-compatible evidence store (store), file hashing (hashing)
and the tolerant AVI reader (avi_reader)."""
