"""Who may do what: the permission catalog, roles, access checks and SSO role mapping."""
