"""The review console: a small server-rendered web application where a tenant's reviewers read the
profiles awaiting human review, open each candidate's stored report and confirm or override its
suggested label. A decision is published as a ``review-decision`` event; the sink stores it and the
profile leaves the queue (``sightline console``; docs/operations.md, "Review console")."""
