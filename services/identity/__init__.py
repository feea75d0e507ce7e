"""Who is asking: identities (tenant and role) from tokens, the tenant binding of reads, the access log."""
