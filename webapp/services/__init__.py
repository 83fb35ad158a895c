"""Operations shared by the portal, the API and the CLI."""
